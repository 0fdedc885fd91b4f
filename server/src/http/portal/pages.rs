//! The portal's pages: one askama template each (`server/templates/portal/`), filled from
//! plain values. Templates escape every value as HTML.

use askama::Template;

use super::texts::Texts;

/// Renders a page. A template that fails to render is a bug; the visitor gets a bare page.
pub(super) fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|error| {
        tracing::error!(%error, "a portal page failed to render");
        String::from("<!DOCTYPE html><title>congvu</title><p>Error / Lỗi</p>")
    })
}

#[derive(Template)]
#[template(path = "portal/sign_in.html")]
pub(super) struct SignInPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    /// What the visitor typed, shown again after a refusal.
    pub login: &'a str,
    pub refused: bool,
}

#[derive(Template)]
#[template(path = "portal/choose.html")]
pub(super) struct ChoosePage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    /// Where the form posts: `/choose-password` or the reset link.
    pub action: &'a str,
    pub intro: &'a str,
    pub name: &'a str,
    pub address: &'a str,
    pub min_length: usize,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/change.html")]
pub(super) struct ChangePage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub current: &'a str,
    pub address: &'a str,
    pub min_length: usize,
    pub current_wrong: bool,
    pub error: Option<String>,
}

/// The certificate line of the account page.
pub(super) struct CertificateView {
    pub expires: String,
    pub serial: String,
    pub issuer: String,
}

#[derive(Template)]
#[template(path = "portal/account.html")]
pub(super) struct AccountPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub current: &'a str,
    pub notice: Option<&'a str>,
    pub name: &'a str,
    pub login: &'a str,
    /// The agency first, then its parents.
    pub agencies: Vec<String>,
    pub unit: Option<&'a str>,
    pub title: Option<&'a str>,
    pub addresses: &'a [String],
    pub groups: &'a [String],
    pub quota_used: String,
    pub quota_total: String,
    /// Used share in tenths (0–10), for the meter's width class.
    pub quota_tenths: u8,
    pub certificate: Option<CertificateView>,
    pub recent_days: &'a [String],
}

#[derive(Template)]
#[template(path = "portal/setup.html")]
pub(super) struct SetupPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub current: &'a str,
    pub login: &'a str,
    /// Setting and value, in the order a phone's account form asks for them.
    pub rows: Vec<(String, String)>,
}

/// One line of the sessions page.
pub(super) struct SessionView {
    pub started: String,
    pub last_seen: String,
    pub source: String,
    pub browser: String,
    pub this: bool,
}

#[derive(Template)]
#[template(path = "portal/sessions.html")]
pub(super) struct SessionsPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub current: &'a str,
    pub sessions: Vec<SessionView>,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
pub(super) struct MessagePage<'a> {
    pub t: &'static Texts,
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "portal/out_of_office.html")]
pub(super) struct OutOfOfficePage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub current: &'a str,
    pub notice: Option<&'a str>,
    /// Where the stored setting stands today (not the refused form's): the status line's
    /// class, and its text.
    pub standing: &'static str,
    pub status: &'a str,
    /// The form's fields: what is stored, or what the official typed when it was refused.
    pub enabled: bool,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub message: &'a str,
    pub max_subject: usize,
    pub max_message: usize,
    /// The field a refusal is about (`from`, `to`, `subject`, `message`, or `form` for the
    /// whole form), and why.
    pub error_field: &'a str,
    pub error: Option<String>,
}
