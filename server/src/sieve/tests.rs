use std::collections::HashMap;

use super::*;

/// Answers kept in memory, and the replies sent, by key, at "now" (seconds), claimed as the
/// delivery claims them.
#[derive(Default)]
struct Memory {
    now: u64,
    replied: HashMap<String, u64>,
    folders: Vec<String>,
}

impl Memory {
    fn claim(&mut self, outcome: &mut Outcome) {
        outcome.replies.retain(|reply| {
            let recent = self
                .replied
                .get(&reply.key)
                .is_some_and(|at| self.now < at + reply.period_seconds);
            if !recent {
                self.replied.insert(reply.key.clone(), self.now);
            }
            !recent
        });
    }
}

impl Answers for Memory {
    fn is_served(&self, domain: &str) -> bool {
        domain == "vinhphuc.gov.vn" || domain == "sotc.vinhphuc.gov.vn"
    }

    fn folder_exists(&self, name: &str) -> bool {
        self.folders.iter().any(|f| f == name)
    }
}

const MESSAGE: &str = "From: Văn phòng UBND <vanphong@vinhphuc.gov.vn>\r\n\
To: An <an@vinhphuc.gov.vn>\r\n\
Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDI5ODY=?=\r\n\
Message-ID: <cv2986@vinhphuc.gov.vn>\r\n\
\r\n\
Kính gửi các đơn vị.\r\n";

fn addresses() -> Vec<String> {
    vec![
        "an@vinhphuc.gov.vn".into(),
        "nguyen.an@vinhphuc.gov.vn".into(),
    ]
}

fn run_on(
    policy: RedirectPolicy,
    script: &str,
    message: &str,
    sender: &str,
    memory: &mut Memory,
) -> Outcome {
    let filters = Filters::new("mail.vinhphuc.gov.vn", policy);
    let script = filters.compile(script.as_bytes()).unwrap();
    let addresses = addresses();
    let delivery = Delivery {
        message: message.as_bytes(),
        sender,
        recipient: "an@vinhphuc.gov.vn",
        addresses: &addresses,
        name: "Nguyễn Văn An",
    };
    let mut outcome = filters.run(&script, &delivery, memory);
    memory.claim(&mut outcome);
    outcome
}

fn run(script: &str) -> Outcome {
    run_on(
        RedirectPolicy::default(),
        script,
        MESSAGE,
        "vanphong@vinhphuc.gov.vn",
        &mut Memory::default(),
    )
}

#[test]
fn without_an_action_the_message_is_kept_in_inbox() {
    let outcome = run("require \"fileinto\";\nif header :contains \"Subject\" \"lịch họp\" { fileinto \"Họp\"; }\n");
    assert_eq!(outcome.copies, vec![Copy::inbox(Vec::new())]);
    assert_eq!(outcome.failure, None);
}

#[test]
fn fileinto_files_by_decoded_subject_with_flags_and_create() {
    let outcome = run("require [\"fileinto\", \"imap4flags\", \"mailbox\"];\n\
         if header :contains \"Subject\" \"Công văn số\" {\n\
           fileinto :create :flags [\"\\\\Seen\", \"$CongVan\"] \"Công văn đến\";\n\
         }\n");
    assert_eq!(
        outcome.copies,
        vec![Copy {
            folder: Some("Công văn đến".into()),
            flags: vec!["\\Seen".into(), "$CongVan".into()],
            create: true,
        }]
    );
}

#[test]
fn fileinto_inbox_in_any_case_is_inbox_and_copy_keeps_too() {
    let outcome =
        run("require [\"fileinto\", \"copy\"];\nfileinto :copy \"Lưu\";\nfileinto \"inbox\";\n");
    assert_eq!(
        outcome.copies,
        vec![
            Copy {
                folder: Some("Lưu".into()),
                flags: Vec::new(),
                create: false
            },
            Copy::inbox(Vec::new())
        ]
    );
}

#[test]
fn discard_leaves_no_copy() {
    let outcome = run("if address :is \"from\" \"vanphong@vinhphuc.gov.vn\" { discard; }\n");
    assert!(outcome.copies.is_empty(), "{outcome:?}");
}

#[test]
fn envelope_tests_see_the_smtp_sender_and_recipient() {
    let outcome = run("require [\"envelope\", \"fileinto\"];\n\
         if envelope :domain :is \"from\" \"vinhphuc.gov.vn\" { fileinto \"Trong tỉnh\"; }\n");
    assert_eq!(outcome.copies[0].folder.as_deref(), Some("Trong tỉnh"));
}

#[test]
fn redirects_follow_the_policy() {
    let script = "redirect \"ban@sotc.vinhphuc.gov.vn\";\nredirect \"an.private@gmail.com\";\n";
    let sender = "vanphong@vinhphuc.gov.vn";
    let served = run_on(
        RedirectPolicy::ServedDomains,
        script,
        MESSAGE,
        sender,
        &mut Memory::default(),
    );
    assert_eq!(
        served.redirects,
        vec!["ban@sotc.vinhphuc.gov.vn".to_string()]
    );
    assert_eq!(
        served.refused_redirects,
        vec!["an.private@gmail.com".to_string()]
    );
    // A redirect cancels the implicit keep (RFC 5228 §4.2).
    assert!(served.copies.is_empty());
    let none = run_on(
        RedirectPolicy::None,
        script,
        MESSAGE,
        sender,
        &mut Memory::default(),
    );
    assert!(none.redirects.is_empty());
    assert_eq!(none.refused_redirects.len(), 2);
    assert_eq!(
        none.copies,
        vec![Copy::inbox(Vec::new())],
        "kept when no redirect may go"
    );
    let any = run_on(
        RedirectPolicy::Any,
        script,
        MESSAGE,
        sender,
        &mut Memory::default(),
    );
    assert_eq!(any.redirects.len(), 2);
}

const VACATION: &str = "require \"vacation\";\n\
vacation :days 3 :subject \"Đi công tác\" \"Tôi đi công tác đến 15/12.\";\n";

#[test]
fn vacation_answers_once_per_sender_within_its_days() {
    let mut memory = Memory::default();
    let sender = "vanphong@vinhphuc.gov.vn";
    let first = run_on(
        RedirectPolicy::default(),
        VACATION,
        MESSAGE,
        sender,
        &mut memory,
    );
    assert_eq!(first.replies.len(), 1, "{first:?}");
    assert_eq!(
        first.copies,
        vec![Copy::inbox(Vec::new())],
        "the message is kept too"
    );
    let reply = String::from_utf8_lossy(&first.replies[0].message).into_owned();
    assert_eq!(first.replies[0].to, sender);
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(
        reply.contains("In-Reply-To: <cv2986@vinhphuc.gov.vn>"),
        "{reply}"
    );
    assert!(
        reply.contains("References: <cv2986@vinhphuc.gov.vn>"),
        "{reply}"
    );
    memory.now = 2 * 86_400;
    let again = run_on(
        RedirectPolicy::default(),
        VACATION,
        MESSAGE,
        sender,
        &mut memory,
    );
    assert!(again.replies.is_empty(), "{again:?}");
    memory.now = 4 * 86_400;
    let later = run_on(
        RedirectPolicy::default(),
        VACATION,
        MESSAGE,
        sender,
        &mut memory,
    );
    assert_eq!(later.replies.len(), 1);
}

#[test]
fn vacation_never_answers_lists_automatic_mail_daemons_or_the_official() {
    let with = |header: &str| MESSAGE.replacen("Subject:", &format!("{header}\r\nSubject:"), 1);
    let cases = [
        (
            with("List-Id: <tin-tuc.vinhphuc.gov.vn>"),
            "vanphong@vinhphuc.gov.vn",
        ),
        (with("Precedence: bulk"), "vanphong@vinhphuc.gov.vn"),
        (with("Precedence: list"), "vanphong@vinhphuc.gov.vn"),
        (with("Precedence: junk"), "vanphong@vinhphuc.gov.vn"),
        (
            with("Auto-Submitted: auto-replied"),
            "vanphong@vinhphuc.gov.vn",
        ),
        (MESSAGE.to_string(), ""),
        (MESSAGE.to_string(), "MAILER-DAEMON@vinhphuc.gov.vn"),
        (MESSAGE.to_string(), "nguyen.an@vinhphuc.gov.vn"),
    ];
    for (message, sender) in cases {
        let mut memory = Memory::default();
        let outcome = run_on(
            RedirectPolicy::default(),
            VACATION,
            &message,
            sender,
            &mut memory,
        );
        assert!(
            outcome.replies.is_empty(),
            "replied to {sender:?}: {message}"
        );
        assert!(memory.replied.is_empty(), "recorded a reply to {sender:?}");
        assert_eq!(outcome.copies, vec![Copy::inbox(Vec::new())]);
    }
    let answered = run_on(
        RedirectPolicy::default(),
        VACATION,
        &with("Auto-Submitted: no"),
        "vanphong@vinhphuc.gov.vn",
        &mut Memory::default(),
    );
    assert_eq!(answered.replies.len(), 1);
}

#[test]
fn reject_is_reported_for_the_smtp_session_to_honour() {
    let outcome = run("require \"reject\";\nreject \"Hộp thư này không nhận thư quảng cáo.\";\n");
    assert_eq!(
        outcome.rejection.as_deref(),
        Some("Hộp thư này không nhận thư quảng cáo.")
    );
}

#[test]
fn mailbox_exists_asks_for_the_officials_folders() {
    let script = "require [\"mailbox\", \"fileinto\"];\n\
                  if mailboxexists \"Dự án\" { fileinto \"Dự án\"; }\n";
    let mut memory = Memory {
        folders: vec!["Dự án".into()],
        ..Memory::default()
    };
    let found = run_on(
        RedirectPolicy::default(),
        script,
        MESSAGE,
        "x@vinhphuc.gov.vn",
        &mut memory,
    );
    assert_eq!(found.copies[0].folder.as_deref(), Some("Dự án"));
    let missing = run(script);
    assert_eq!(missing.copies, vec![Copy::inbox(Vec::new())]);
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    let error = filters
        .compile(b"require \"fileinto\";\n\nif header :contains \"Subject\" \"x\" {\n  fileinto \"A\"\n}\n")
        .unwrap_err();
    assert_eq!(error.line, 5, "{error}");
    assert!(error.to_string().starts_with("line 5, column "), "{error}");
    let unknown = filters
        .compile(b"# sorting\nrequire [\"fileinto\", \"nosuchextension\"];\n")
        .unwrap_err();
    assert_eq!(unknown.line, 2, "{unknown}");
    assert!(unknown.reason.contains("nosuchextension"), "{unknown}");
    let unoffered = filters.compile(b"require \"enotify\";\n").unwrap_err();
    assert!(unoffered.reason.contains("enotify"), "{unoffered}");
}

#[test]
fn oversized_and_deeply_nested_scripts_are_refused() {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    let large = "# filler\n".repeat(MAX_SCRIPT_BYTES / 9 + 10);
    let error = filters.compile(large.as_bytes()).unwrap_err();
    assert!(error.reason.contains("at most 65536"), "{error}");
    let nested = format!(
        "{}keep;{}",
        "if true { ".repeat(10_000),
        " }".repeat(10_000)
    );
    assert!(filters.compile(nested.as_bytes()).is_err());
}

#[test]
fn a_run_past_its_instruction_limit_keeps_the_message_in_inbox() {
    let mut message = String::from(
        "From: a@vinhphuc.gov.vn\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for i in 0..400 {
        message.push_str(&format!(
            "--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    message.push_str("--b--\r\n");
    // A hundred tests on each of 400 parts: some 120,000 instructions, past the limit.
    let tests = "if header :contains \"Content-Type\" \"zzz\" { fileinto \"X\"; }\n".repeat(100);
    let script = format!(
        "require [\"foreverypart\", \"fileinto\"];\nforeverypart {{\n{tests}}}\nfileinto \"Never\";\n"
    );
    let script = script.as_str();
    let outcome = run_on(
        RedirectPolicy::default(),
        script,
        &message,
        "a@vinhphuc.gov.vn",
        &mut Memory::default(),
    );
    assert_eq!(outcome.copies, vec![Copy::inbox(Vec::new())]);
    assert!(outcome.failure.is_some(), "{outcome:?}");
}

#[test]
fn body_variables_relational_and_subaddress_tests_work() {
    let by_body = run("require [\"body\", \"fileinto\"];\nif body :text :contains \"đơn vị\" { fileinto \"Đơn vị\"; }\n");
    assert_eq!(by_body.copies[0].folder.as_deref(), Some("Đơn vị"));
    let by_match = run("require [\"variables\", \"fileinto\"];\n\
         if address :matches :localpart \"from\" \"*\" { fileinto \"Từ ${1}\"; }\n");
    assert_eq!(by_match.copies[0].folder.as_deref(), Some("Từ vanphong"));
    let counted = run(
        "require [\"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\n\
         if header :count \"eq\" :comparator \"i;ascii-numeric\" \"To\" \"1\" { fileinto \"Một người nhận\"; }\n",
    );
    assert_eq!(counted.copies[0].folder.as_deref(), Some("Một người nhận"));
    let plus = MESSAGE.replace(
        "To: An <an@vinhphuc.gov.vn>",
        "To: An <an+hop@vinhphuc.gov.vn>",
    );
    let detail = run_on(
        RedirectPolicy::default(),
        "require [\"subaddress\", \"fileinto\"];\nif address :detail \"to\" \"hop\" { fileinto \"Họp\"; }\n",
        &plus,
        "vanphong@vinhphuc.gov.vn",
        &mut Memory::default(),
    );
    assert_eq!(detail.copies[0].folder.as_deref(), Some("Họp"));
}

#[test]
fn the_environment_names_congvu() {
    let outcome = run("require [\"environment\", \"fileinto\", \"variables\"];\n\
         if environment :matches \"name\" \"*\" { fileinto \"${1}\"; }\n");
    assert_eq!(outcome.copies[0].folder.as_deref(), Some("congvu"));
}

/// Runs the chain of `province`, `agency` and `own` scripts on [`MESSAGE`].
fn chain_run(province: Option<&str>, agency: Option<&str>, own: Option<&str>) -> Outcome {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    let compile = |text: Option<&str>| text.map(|t| filters.compile(t.as_bytes()).unwrap());
    let chain = Chain {
        province: compile(province),
        agency: compile(agency),
        own: compile(own),
    };
    let addresses = addresses();
    let delivery = Delivery {
        message: MESSAGE.as_bytes(),
        sender: "vanphong@vinhphuc.gov.vn",
        recipient: "an@vinhphuc.gov.vn",
        addresses: &addresses,
        name: "Nguyễn Văn An",
    };
    filters.run_chain(&chain, &delivery, &Memory::default())
}

fn folders(outcome: &Outcome) -> Vec<Option<&str>> {
    outcome.copies.iter().map(|c| c.folder.as_deref()).collect()
}

#[test]
fn administrators_scripts_run_before_the_officials_own_in_order() {
    let to_junk = "require \"fileinto\";\r\n\
        if address :is \"from\" \"vanphong@vinhphuc.gov.vn\" { fileinto \"Junk\"; stop; }\r\n";
    let flag = "require \"imap4flags\";\r\naddflag \"$Agency\";\r\n";
    let own = "require \"fileinto\";\r\nfileinto \"Công văn\";\r\n";
    // A stop in the province's script ends the chain: the official's rule never runs.
    assert_eq!(
        folders(&chain_run(Some(to_junk), None, Some(own))),
        [Some("Junk")]
    );
    // Without a stop the official's rule runs after the agency's, whose flag it inherits.
    let outcome = chain_run(None, Some(flag), Some(own));
    assert_eq!(folders(&outcome), [Some("Công văn")]);
    assert_eq!(outcome.copies[0].flags, ["$Agency"]);
    // An administrator's script alone keeps the message where it says, or in INBOX.
    assert_eq!(folders(&chain_run(None, Some(flag), None)), [None]);
    assert_eq!(folders(&chain_run(None, None, None)), [None]);
    assert!(chain_run(Some(flag), Some(to_junk), Some(own))
        .failure
        .is_none());
}

#[test]
fn a_stored_script_may_not_include_others() {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    let refused = filters
        .compile(b"require \"include\";\r\ninclude :global \"province\";\r\n")
        .unwrap_err();
    assert!(
        refused.reason.to_lowercase().contains("include"),
        "{refused}"
    );
}

#[test]
fn a_message_to_a_thousand_recipients_is_answered_once_to_its_sender_only() {
    let mut to: Vec<String> = (0..999).map(|i| format!("cb{i}@vinhphuc.gov.vn")).collect();
    to.push("an@vinhphuc.gov.vn".into());
    let message = MESSAGE.replacen(
        "To: An <an@vinhphuc.gov.vn>",
        &format!(
            "To: {}\r\nCc: {}",
            to[..500].join(",\r\n "),
            to[500..].join(",\r\n ")
        ),
        1,
    );
    let sender = "vanphong@vinhphuc.gov.vn";
    let mut memory = Memory::default();
    let outcome = run_on(
        RedirectPolicy::default(),
        VACATION,
        &message,
        sender,
        &mut memory,
    );
    assert_eq!(outcome.replies.len(), 1, "{outcome:?}");
    assert_eq!(outcome.replies[0].to, sender);
    let reply = String::from_utf8_lossy(&outcome.replies[0].message).into_owned();
    let headers = reply.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        !headers.contains("cb0@") && !headers.contains("Cc:"),
        "{headers}"
    );
}

#[test]
fn delivery_reads_every_header_as_the_interpreter_would_but_received() {
    let message = "Received: from relay.example.org (relay.example.org [192.0.2.7])\r\n\
        \tby mail.vinhphuc.gov.vn with ESMTPS id 4f2a; Mon, 7 Dec 2026 08:00:00 +0700\r\n\
        Return-Path: <vanphong@vinhphuc.gov.vn>\r\n\
        From: =?UTF-8?B?VsSDbiBwaMOybmc=?= <vanphong@vinhphuc.gov.vn>\r\n\
        Sender: vanphong@vinhphuc.gov.vn\r\n\
        Reply-To: hanhchinh@vinhphuc.gov.vn\r\n\
        To: An <an@vinhphuc.gov.vn>, van@vinhphuc.gov.vn\r\n\
        Cc: toanthe@vinhphuc.gov.vn\r\n\
        Bcc: luu@vinhphuc.gov.vn\r\n\
        Resent-From: a@vinhphuc.gov.vn\r\nResent-To: b@vinhphuc.gov.vn\r\n\
        Resent-Cc: c@vinhphuc.gov.vn\r\nResent-Bcc: d@vinhphuc.gov.vn\r\n\
        Resent-Sender: e@vinhphuc.gov.vn\r\nResent-Date: Mon, 7 Dec 2026 08:01:00 +0700\r\n\
        Resent-Message-ID: <r1@vinhphuc.gov.vn>\r\n\
        List-Id: Công đoàn <congdoan.snv.vinhphuc.gov.vn>\r\n\
        List-Archive: <https://lists.vinhphuc.gov.vn/congdoan>\r\n\
        List-Help: <mailto:help@vinhphuc.gov.vn>\r\nList-Owner: <mailto:o@vinhphuc.gov.vn>\r\n\
        List-Post: <mailto:congdoan@vinhphuc.gov.vn>\r\n\
        List-Subscribe: <mailto:s@vinhphuc.gov.vn>\r\n\
        List-Unsubscribe: <mailto:u@vinhphuc.gov.vn>\r\n\
        Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDI5ODY=?=\r\n\
        Comments: =?UTF-8?Q?Ghi_ch=C3=BA?=\r\nKeywords: công văn, khẩn\r\n\
        Date: Mon, 7 Dec 2026 08:00:00 +0700\r\n\
        Message-ID: <cv-2986@vinhphuc.gov.vn>\r\nIn-Reply-To: <cv-2985@vinhphuc.gov.vn>\r\n\
        References: <cv-2984@vinhphuc.gov.vn> <cv-2985@vinhphuc.gov.vn>\r\n\
        X-Priority: 1 (Highest)\r\nAuto-Submitted: no\r\nMIME-Version: 1.0\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
        Content-Language: vi\r\nContent-ID: <p1@vinhphuc.gov.vn>\r\n\
        Content-Description: =?UTF-8?Q?V=C4=83n_b=E1=BA=A3n?=\r\n\
        Content-Location: cv.txt\r\nContent-Disposition: inline; filename=cv.txt\r\n\
        \r\n\
        Kính gửi các đơn vị.\r\n";
    let interpreter = mail_parser::MessageParser::new().parse(message).unwrap();
    let delivery = super::parser().parse(message).unwrap();
    let (theirs, ours) = (interpreter.headers(), delivery.headers());
    assert_eq!(theirs.len(), ours.len());
    for (theirs, ours) in theirs.iter().zip(ours) {
        assert_eq!(theirs.name, ours.name);
        match ours.name {
            mail_parser::HeaderName::Received => {
                assert!(matches!(ours.value, mail_parser::HeaderValue::Text(_)));
            }
            _ => assert_eq!(theirs.value, ours.value, "{}", ours.name.as_str()),
        }
    }
    assert_eq!(interpreter.body_text(0), delivery.body_text(0));
}
