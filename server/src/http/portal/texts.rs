//! Every word the portal shows, in Vietnamese (the default) and English, and the portal's
//! own words for the domain's refusals (a weak password, a wrong current one, an out-of-office
//! setting that cannot be saved).

use crate::directory::{PasswordWeakness, MIN_CHOSEN_PASSWORD_CHARS};
use crate::sieve::scripts::MAX_SCRIPTS;
use crate::sieve::vacation::{OutOfOfficeError, Standing, MAX_MESSAGE_CHARS, MAX_SUBJECT_CHARS};

/// The portal's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// From a `lang` query parameter or cookie value.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}

/// The words of one language. Field names say where they appear.
#[derive(Debug)]
pub struct Texts {
    pub lang: &'static str,
    /// The link to the other language: its code and its name in itself.
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub site_name: &'static str,
    pub skip_to_content: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub login_label: &'static str,
    pub login_hint: &'static str,
    pub password_label: &'static str,
    pub sign_in_button: &'static str,
    pub sign_in_refused: &'static str,
    pub sign_in_help: &'static str,
    pub choose_title: &'static str,
    pub choose_intro: &'static str,
    pub reset_intro: &'static str,
    pub new_password_label: &'static str,
    pub new_password_hint: &'static str,
    pub confirm_label: &'static str,
    pub choose_button: &'static str,
    pub mismatch: &'static str,
    pub change_title: &'static str,
    pub current_password_label: &'static str,
    pub current_wrong: &'static str,
    pub change_button: &'static str,
    pub password_changed: &'static str,
    pub account_title: &'static str,
    pub name_label: &'static str,
    pub login_name_label: &'static str,
    pub agency_label: &'static str,
    pub unit_label: &'static str,
    pub title_label: &'static str,
    pub addresses_label: &'static str,
    pub groups_label: &'static str,
    pub none: &'static str,
    pub quota_label: &'static str,
    pub quota_of: &'static str,
    pub certificate_label: &'static str,
    pub certificate_none: &'static str,
    pub certificate_expires: &'static str,
    pub certificate_serial: &'static str,
    pub certificate_issuer: &'static str,
    pub recent_days_label: &'static str,
    pub nav_account: &'static str,
    pub nav_password: &'static str,
    pub nav_setup: &'static str,
    pub nav_sessions: &'static str,
    pub nav_out_of_office: &'static str,
    pub sign_out_button: &'static str,
    pub setup_title: &'static str,
    pub setup_intro: &'static str,
    pub setup_thunderbird_title: &'static str,
    pub setup_thunderbird: &'static str,
    pub setup_outlook_title: &'static str,
    pub setup_outlook: &'static str,
    pub setup_apple_title: &'static str,
    pub setup_apple: &'static str,
    pub setup_apple_button: &'static str,
    pub setup_android_title: &'static str,
    pub setup_android: &'static str,
    pub setting_label: &'static str,
    pub value_label: &'static str,
    pub incoming_imap: &'static str,
    pub outgoing_smtp: &'static str,
    pub server_label: &'static str,
    pub port_label: &'static str,
    pub security_label: &'static str,
    pub security_tls: &'static str,
    pub security_starttls: &'static str,
    pub username_label: &'static str,
    pub password_is_yours: &'static str,
    pub sessions_title: &'static str,
    pub sessions_intro: &'static str,
    pub session_started: &'static str,
    pub session_last_seen: &'static str,
    pub session_from: &'static str,
    pub session_browser: &'static str,
    pub this_session: &'static str,
    pub end_all_button: &'static str,
    pub out_of_office_title: &'static str,
    pub out_of_office_intro: &'static str,
    pub enabled_label: &'static str,
    pub from_label: &'static str,
    pub from_hint: &'static str,
    pub to_label: &'static str,
    pub to_hint: &'static str,
    pub subject_label: &'static str,
    pub reply_label: &'static str,
    pub reply_hint: &'static str,
    pub out_of_office_button: &'static str,
    pub out_of_office_saved: &'static str,
    pub script_broken: &'static str,
    pub link_invalid_title: &'static str,
    pub link_invalid: &'static str,
    pub back_to_sign_in: &'static str,
    pub forbidden_title: &'static str,
    pub csrf_refused: &'static str,
    pub needs_https_title: &'static str,
    pub needs_https: &'static str,
    pub bad_request_title: &'static str,
    pub bad_request: &'static str,
    pub too_large: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable: &'static str,
    pub not_found_title: &'static str,
    pub not_found: &'static str,
}

pub static VI: Texts = Texts {
    lang: "vi",
    other_lang: "en",
    other_lang_name: "English",
    site_name: "Thư công vụ",
    skip_to_content: "Bỏ qua đến nội dung chính",
    sign_in_title: "Đăng nhập",
    sign_in_intro: "Đăng nhập bằng tên đăng nhập hoặc địa chỉ thư công vụ và mật khẩu của bạn. Lần đầu đăng nhập, hãy dùng mật khẩu ban đầu do bộ phận công nghệ thông tin của cơ quan cấp.",
    login_label: "Tên đăng nhập hoặc địa chỉ thư",
    login_hint: "Ví dụ: annv hoặc annv@vinhphuc.gov.vn",
    password_label: "Mật khẩu",
    sign_in_button: "Đăng nhập",
    sign_in_refused: "Tên đăng nhập hoặc mật khẩu không đúng, hoặc mật khẩu ban đầu đã hết hạn. Nếu quên mật khẩu, hãy liên hệ bộ phận công nghệ thông tin của cơ quan.",
    sign_in_help: "Mật khẩu ban đầu chỉ dùng để chọn mật khẩu mới, và hết hạn sau một số ngày.",
    choose_title: "Chọn mật khẩu của bạn",
    choose_intro: "Mật khẩu ban đầu chỉ dùng một lần để chọn mật khẩu riêng. Hãy chọn mật khẩu mới; sau đó dùng mật khẩu này cho thư điện tử trên máy tính và điện thoại.",
    reset_intro: "Liên kết này cho phép bạn chọn mật khẩu mới một lần mà không cần mật khẩu cũ.",
    new_password_label: "Mật khẩu mới",
    new_password_hint: "Ít nhất 10 ký tự. Một câu dài gồm nhiều từ không liên quan dễ nhớ mà khó đoán. Không dùng tên, tên đăng nhập hay địa chỉ thư của bạn.",
    confirm_label: "Nhập lại mật khẩu mới",
    choose_button: "Lưu mật khẩu",
    mismatch: "Hai lần nhập mật khẩu mới không giống nhau.",
    change_title: "Đổi mật khẩu",
    current_password_label: "Mật khẩu hiện tại",
    current_wrong: "Mật khẩu hiện tại không đúng.",
    change_button: "Đổi mật khẩu",
    password_changed: "Đã lưu mật khẩu mới. Các phiên đăng nhập khác đã được đăng xuất.",
    account_title: "Tài khoản của tôi",
    name_label: "Họ và tên",
    login_name_label: "Tên đăng nhập",
    agency_label: "Cơ quan",
    unit_label: "Đơn vị",
    title_label: "Chức vụ",
    addresses_label: "Địa chỉ thư",
    groups_label: "Nhóm",
    none: "Không có",
    quota_label: "Dung lượng hộp thư",
    quota_of: "đã dùng trên tổng số",
    certificate_label: "Chứng thư số ký thư",
    certificate_none: "Chưa có chứng thư số còn hiệu lực trong danh bạ.",
    certificate_expires: "Hết hạn",
    certificate_serial: "Số hiệu",
    certificate_issuer: "Cơ quan cấp",
    recent_days_label: "Những ngày đăng nhập gần đây",
    nav_account: "Tài khoản",
    nav_password: "Đổi mật khẩu",
    nav_setup: "Cài đặt thư",
    nav_sessions: "Phiên đăng nhập",
    nav_out_of_office: "Trả lời tự động",
    sign_out_button: "Đăng xuất",
    setup_title: "Cài đặt thư trên máy tính và điện thoại",
    setup_intro: "Dùng địa chỉ thư và mật khẩu của bạn. Các phần mềm thư phổ biến tự tìm cài đặt; nếu cần nhập tay, dùng bảng dưới đây.",
    setup_thunderbird_title: "Thunderbird",
    setup_thunderbird: "Chọn Thêm tài khoản thư, nhập họ tên, địa chỉ thư và mật khẩu. Thunderbird tự tìm máy chủ và cổng.",
    setup_outlook_title: "Outlook",
    setup_outlook: "Chọn Thêm tài khoản, nhập địa chỉ thư rồi mật khẩu. Outlook tự tìm cài đặt (Autodiscover).",
    setup_apple_title: "iPhone và iPad",
    setup_apple: "Mở trang này trên iPhone hoặc iPad, tải hồ sơ cấu hình, rồi vào Cài đặt › Đã tải về hồ sơ để cài đặt. Máy sẽ hỏi mật khẩu của bạn.",
    setup_apple_button: "Tải hồ sơ cấu hình (.mobileconfig)",
    setup_android_title: "Android (Gmail, Outlook và các ứng dụng thư khác)",
    setup_android: "Chọn loại tài khoản IMAP (cá nhân) và nhập các thông số sau:",
    setting_label: "Thông số",
    value_label: "Giá trị",
    incoming_imap: "Thư đến (IMAP)",
    outgoing_smtp: "Thư đi (SMTP)",
    server_label: "Máy chủ",
    port_label: "Cổng",
    security_label: "Bảo mật",
    security_tls: "SSL/TLS",
    security_starttls: "STARTTLS",
    username_label: "Tên người dùng",
    password_is_yours: "Mật khẩu: mật khẩu bạn đã chọn ở cổng này.",
    sessions_title: "Phiên đăng nhập cổng thư",
    sessions_intro: "Các trình duyệt đang đăng nhập vào tài khoản của bạn trên cổng này.",
    session_started: "Đăng nhập lúc",
    session_last_seen: "Dùng lần cuối",
    session_from: "Từ địa chỉ",
    session_browser: "Trình duyệt",
    this_session: "(phiên này)",
    end_all_button: "Đăng xuất khỏi mọi nơi",
    out_of_office_title: "Trả lời tự động khi vắng mặt",
    out_of_office_intro: "Khi bật, mỗi người gửi thư cho bạn nhận một thư trả lời tự động, nhiều nhất một lần mỗi ngày. Thư từ danh sách thư và thư tự động không được trả lời. Các quy tắc lọc thư bạn đã đặt trong phần mềm thư vẫn được giữ nguyên.",
    enabled_label: "Bật trả lời tự động",
    from_label: "Từ ngày",
    from_hint: "Để trống để bắt đầu ngay.",
    to_label: "Đến hết ngày",
    to_hint: "Để trống để trả lời cho đến khi bạn tắt.",
    subject_label: "Tiêu đề thư trả lời",
    reply_label: "Nội dung thư trả lời",
    reply_hint: "Tối đa 4.000 ký tự.",
    out_of_office_button: "Lưu",
    out_of_office_saved: "Đã lưu cài đặt trả lời tự động.",
    script_broken: "Không lưu được: bộ lọc thư đang dùng của bạn có lỗi hoặc quá lớn. Hãy sửa bộ lọc trong phần mềm thư, hoặc liên hệ bộ phận công nghệ thông tin của cơ quan; không có gì bị thay đổi.",
    link_invalid_title: "Liên kết không còn hiệu lực",
    link_invalid: "Liên kết đặt mật khẩu này đã được dùng, đã hết hạn hoặc không đúng. Hãy liên hệ bộ phận công nghệ thông tin của cơ quan để nhận liên kết mới.",
    back_to_sign_in: "Về trang đăng nhập",
    forbidden_title: "Yêu cầu bị từ chối",
    csrf_refused: "Biểu mẫu đã cũ hoặc không đến từ trang này. Hãy mở lại trang và thử lại; không có gì bị thay đổi.",
    needs_https_title: "Cần kết nối an toàn",
    needs_https: "Mật khẩu chỉ được gửi qua kết nối an toàn (https). Hãy mở cổng thư bằng địa chỉ https; không có gì bị thay đổi.",
    bad_request_title: "Yêu cầu không hợp lệ",
    bad_request: "Không đọc được biểu mẫu. Hãy mở lại trang và thử lại; không có gì bị thay đổi.",
    too_large: "Biểu mẫu quá lớn. Không có gì bị thay đổi.",
    unavailable_title: "Tạm thời không phục vụ được",
    unavailable: "Máy chủ tạm thời không xử lý được yêu cầu. Hãy thử lại sau ít phút.",
    not_found_title: "Không tìm thấy trang",
    not_found: "Trang này không tồn tại.",
};

pub static EN: Texts = Texts {
    lang: "en",
    other_lang: "vi",
    other_lang_name: "Tiếng Việt",
    site_name: "Official mail",
    skip_to_content: "Skip to main content",
    sign_in_title: "Sign in",
    sign_in_intro: "Sign in with your login or official mail address and your password. The first time, use the initial password your agency's IT staff gave you.",
    login_label: "Login or mail address",
    login_hint: "For example: annv or annv@vinhphuc.gov.vn",
    password_label: "Password",
    sign_in_button: "Sign in",
    sign_in_refused: "The login or password is wrong, or the initial password has expired. If you forgot your password, ask your agency's IT staff.",
    sign_in_help: "An initial password is only for choosing a new one, and it expires after some days.",
    choose_title: "Choose your password",
    choose_intro: "The initial password is good once, for choosing your own. Choose a new password; then use it for mail on your computer and phone.",
    reset_intro: "This link lets you choose a new password once, without the old one.",
    new_password_label: "New password",
    new_password_hint: "At least 10 characters. A long phrase of unrelated words is easy to remember and hard to guess. Do not use your name, login or mail address.",
    confirm_label: "New password again",
    choose_button: "Save password",
    mismatch: "The two new passwords differ.",
    change_title: "Change password",
    current_password_label: "Current password",
    current_wrong: "The current password is wrong.",
    change_button: "Change password",
    password_changed: "Your new password is saved. Your other sessions were signed out.",
    account_title: "My account",
    name_label: "Full name",
    login_name_label: "Login",
    agency_label: "Agency",
    unit_label: "Unit",
    title_label: "Title",
    addresses_label: "Mail addresses",
    groups_label: "Groups",
    none: "None",
    quota_label: "Mailbox size",
    quota_of: "used of",
    certificate_label: "Signing certificate",
    certificate_none: "No valid certificate in the directory.",
    certificate_expires: "Expires",
    certificate_serial: "Serial",
    certificate_issuer: "Issuer",
    recent_days_label: "Recent sign-in days",
    nav_account: "Account",
    nav_password: "Change password",
    nav_setup: "Set up my mail",
    nav_sessions: "Sessions",
    nav_out_of_office: "Out of office",
    sign_out_button: "Sign out",
    setup_title: "Set up mail on your computer and phone",
    setup_intro: "Use your mail address and your password. Common mail apps find the settings themselves; to enter them by hand, use the table below.",
    setup_thunderbird_title: "Thunderbird",
    setup_thunderbird: "Choose Add Mail Account, enter your name, mail address and password. Thunderbird finds the servers and ports.",
    setup_outlook_title: "Outlook",
    setup_outlook: "Choose Add Account, enter your mail address, then your password. Outlook finds the settings (Autodiscover).",
    setup_apple_title: "iPhone and iPad",
    setup_apple: "Open this page on the iPhone or iPad, download the configuration profile, then install it under Settings › Profile Downloaded. It asks for your password.",
    setup_apple_button: "Download the configuration profile (.mobileconfig)",
    setup_android_title: "Android (Gmail, Outlook and other mail apps)",
    setup_android: "Choose a personal IMAP account and enter these settings:",
    setting_label: "Setting",
    value_label: "Value",
    incoming_imap: "Incoming (IMAP)",
    outgoing_smtp: "Outgoing (SMTP)",
    server_label: "Server",
    port_label: "Port",
    security_label: "Security",
    security_tls: "SSL/TLS",
    security_starttls: "STARTTLS",
    username_label: "User name",
    password_is_yours: "Password: the password you chose here.",
    sessions_title: "Portal sessions",
    sessions_intro: "The browsers signed in to your account on this portal.",
    session_started: "Signed in",
    session_last_seen: "Last used",
    session_from: "From",
    session_browser: "Browser",
    this_session: "(this session)",
    end_all_button: "Sign out everywhere",
    out_of_office_title: "Out of office",
    out_of_office_intro: "When on, everyone who writes to you gets an automatic reply, at most once a day each. Mail from mailing lists and automatic mail gets none. The filter rules you set up in your mail app are kept as they are.",
    enabled_label: "Send automatic replies",
    from_label: "First day",
    from_hint: "Leave empty to start now.",
    to_label: "Last day",
    to_hint: "Leave empty to reply until you turn it off.",
    subject_label: "Subject of the reply",
    reply_label: "Text of the reply",
    reply_hint: "At most 4,000 characters.",
    out_of_office_button: "Save",
    out_of_office_saved: "Your out-of-office setting is saved.",
    script_broken: "Not saved: the mail filter you use has an error or is too large. Fix it in your mail app, or ask your agency's IT staff; nothing was changed.",
    link_invalid_title: "This link no longer works",
    link_invalid: "This password link was used already, has expired or is wrong. Ask your agency's IT staff for a new one.",
    back_to_sign_in: "Back to sign in",
    forbidden_title: "Request refused",
    csrf_refused: "The form is stale or did not come from this site. Open the page again and retry; nothing was changed.",
    needs_https_title: "A secure connection is needed",
    needs_https: "Passwords are only taken over a secure connection (https). Open the portal at its https address; nothing was changed.",
    bad_request_title: "Bad request",
    bad_request: "The form could not be read. Open the page again and retry; nothing was changed.",
    too_large: "The form is too large. Nothing was changed.",
    unavailable_title: "Temporarily unavailable",
    unavailable: "The server cannot handle the request right now. Try again in a few minutes.",
    not_found_title: "Page not found",
    not_found: "This page does not exist.",
};

/// Why a chosen password was refused, in plain words of `lang`.
pub fn weakness(lang: Lang, why: &PasswordWeakness) -> String {
    match (lang, why) {
        (Lang::Vi, PasswordWeakness::TooShort { min }) => {
            format!("Mật khẩu quá ngắn: cần ít nhất {min} ký tự.")
        }
        (Lang::Vi, PasswordWeakness::TooLong { max }) => {
            format!("Mật khẩu quá dài: tối đa {max} ký tự.")
        }
        (Lang::Vi, PasswordWeakness::ControlCharacter) => {
            "Mật khẩu có ký tự điều khiển; chỉ dùng chữ, số, dấu và khoảng trắng.".into()
        }
        (Lang::Vi, PasswordWeakness::ContainsLogin(word)) => format!(
            "Mật khẩu chứa tên đăng nhập hoặc địa chỉ thư của bạn (\u{201c}{word}\u{201d}); hãy chọn mật khẩu khác."
        ),
        (Lang::Vi, PasswordWeakness::ContainsName(word)) => format!(
            "Mật khẩu chứa tên của bạn (\u{201c}{word}\u{201d}); người khác dễ đoán được."
        ),
        (Lang::Vi, PasswordWeakness::SameAsCurrent) => {
            "Mật khẩu mới phải khác mật khẩu đang dùng (kể cả mật khẩu ban đầu).".into()
        }
        (Lang::Vi, PasswordWeakness::Guessable { score }) => format!(
            "Mật khẩu quá dễ đoán (độ mạnh {score}/4, cần từ 3). Hãy dùng một câu dài gồm nhiều từ không liên quan."
        ),
        (Lang::En, why) => format!("{}.", capitalised(&why.to_string())),
    }
}

/// Why an out-of-office setting was refused, in plain words of `lang`.
pub fn out_of_office_refusal(lang: Lang, why: &OutOfOfficeError) -> String {
    match (lang, why) {
        (Lang::Vi, OutOfOfficeError::BadFrom) => {
            "Ngày bắt đầu không đúng: hãy chọn ngày trong lịch, hoặc viết theo dạng năm-tháng-ngày (ví dụ 2026-12-20).".into()
        }
        (Lang::Vi, OutOfOfficeError::BadTo) => {
            "Ngày kết thúc không đúng: hãy chọn ngày trong lịch, hoặc viết theo dạng năm-tháng-ngày (ví dụ 2027-01-03).".into()
        }
        (Lang::Vi, OutOfOfficeError::EndsBeforeStart) => {
            "Ngày kết thúc phải là ngày bắt đầu hoặc sau đó.".into()
        }
        (Lang::Vi, OutOfOfficeError::SubjectTooLong) => {
            format!("Tiêu đề quá dài: tối đa {MAX_SUBJECT_CHARS} ký tự.")
        }
        (Lang::Vi, OutOfOfficeError::MessageTooLong) => {
            format!("Nội dung quá dài: tối đa {} ký tự.", thousands(MAX_MESSAGE_CHARS, '.'))
        }
        (Lang::Vi, OutOfOfficeError::NoMessage) => "Hãy viết nội dung thư trả lời.".into(),
        (Lang::En, why) => format!("{}.", capitalised(&why.to_string())),
    }
}

/// The out-of-office status line: whether replies go today, or from or until when.
pub fn status_line(lang: Lang, standing: Standing) -> String {
    let day = |d: time::Date| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year());
    match (lang, standing) {
        (Lang::Vi, Standing::On) => "Trả lời tự động đang bật.".into(),
        (Lang::Vi, Standing::Off) => "Trả lời tự động đang tắt.".into(),
        (Lang::Vi, Standing::Starts(first)) => {
            format!("Trả lời tự động đã đặt, sẽ bắt đầu từ ngày {}.", day(first))
        }
        (Lang::Vi, Standing::Ended(last)) => format!(
            "Trả lời tự động đã hết hạn sau ngày {}: thư đến không còn được trả lời.",
            day(last)
        ),
        (Lang::En, Standing::On) => "Automatic replies are on.".into(),
        (Lang::En, Standing::Off) => "Automatic replies are off.".into(),
        (Lang::En, Standing::Starts(first)) => {
            format!("Automatic replies are set and start on {}.", day(first))
        }
        (Lang::En, Standing::Ended(last)) => format!(
            "Automatic replies ended after {}: mail is no longer answered.",
            day(last)
        ),
    }
}

/// Why no script could be made to hold the setting: the official keeps as many as they may.
pub fn too_many_scripts(lang: Lang) -> String {
    match lang {
        Lang::Vi => format!("Không lưu được: bạn đã có {MAX_SCRIPTS} bộ lọc thư, là số tối đa. Hãy xoá bớt một bộ lọc không dùng trong phần mềm thư; không có gì bị thay đổi."),
        Lang::En => format!("Not saved: you already keep {MAX_SCRIPTS} mail filters, the most allowed. Delete one you do not use in your mail app; nothing was changed."),
    }
}

/// `4000` as `4.000` (Vietnamese) or `4,000`.
fn thousands(n: usize, separator: char) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(separator);
        }
        out.push(d);
    }
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The minimum length, for the form's `minlength`.
pub const MIN_LENGTH: usize = MIN_CHOSEN_PASSWORD_CHARS;
