//! The account page, and the sessions list with "sign out everywhere".

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Form;

use super::{
    clear_cookie, forms, page, pages, redirect, unavailable, Answer, Lang, Portal, Saved, Visit,
    SESSION_COOKIE,
};
use crate::clock::UnixTime;
use crate::directory::Actor;

/// `GET /account`: who the official is in the directory, their mailbox and certificate.
pub(super) async fn account(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (session, official) = portal.account_session(&visit).await?;
    let used = portal
        .state
        .mailstore
        .usage(official.id)
        .await
        .map_err(|e| unavailable(&visit, &e))?;
    let overview = portal
        .directory()
        .account_overview(official)
        .await
        .map_err(|e| unavailable(&visit, &e))?;
    let t = visit.texts();
    let o = &overview.official;
    let total = o.quota_bytes.max(1);
    let html = pages::render(&pages::AccountPage {
        t,
        csrf: &session.csrf_token,
        current: "account",
        notice: (visit.saved == Some(Saved::Password)).then_some(t.password_changed),
        name: &o.display_name,
        login: &o.login,
        agencies: overview
            .agency_chain
            .iter()
            .map(|a| a.name.clone())
            .collect(),
        unit: o.unit.as_deref(),
        title: o.title.as_deref(),
        addresses: &overview.addresses,
        groups: &overview.groups,
        quota_used: bytes(used),
        quota_total: bytes(o.quota_bytes),
        quota_tenths: u8::try_from((used.max(0) * 10 / total).min(10)).unwrap_or(10),
        certificate: overview
            .certificate
            .as_ref()
            .map(|c| pages::CertificateView {
                expires: local_time(c.not_after, visit.lang),
                serial: c.serial.clone(),
                issuer: c.issuer.clone(),
            }),
        recent_days: &overview
            .recent_days
            .iter()
            .map(|day| day_month_year(day))
            .collect::<Vec<_>>(),
    });
    Ok(page(&visit, StatusCode::OK, html, &[]))
}

/// `GET /sessions`.
pub(super) async fn sessions(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (session, official) = portal.account_session(&visit).await?;
    let policy = portal.state.settings.sessions;
    let all = portal
        .directory()
        .portal_sessions_of(official.id, policy)
        .await
        .map_err(|e| unavailable(&visit, &e))?;
    let token = visit.session_token.as_deref().unwrap_or_default();
    let sessions = all
        .iter()
        .map(|s| pages::SessionView {
            started: local_time(s.started_at, visit.lang),
            last_seen: local_time(s.last_seen_at, visit.lang),
            source: s.source.clone(),
            browser: browser_name(&s.user_agent, visit.lang),
            this: s.is_opened_by(token),
        })
        .collect();
    let html = pages::render(&pages::SessionsPage {
        t: visit.texts(),
        csrf: &session.csrf_token,
        current: "sessions",
        sessions,
    });
    Ok(page(&visit, StatusCode::OK, html, &[]))
}

/// `POST /sessions/end-all`: every session of the official ends, this one too.
pub(super) async fn end_all(
    State(portal): State<Portal>,
    visit: Visit,
    form: Result<Form<forms::Confirm>, FormRejection>,
) -> Answer {
    let form = forms::read(&visit, form)?;
    let (session, official) = portal.account_session(&visit).await?;
    visit.check_csrf(&session.csrf_token, form.csrf.as_deref())?;
    let actor = Actor(format!("official:{}", official.login));
    portal
        .directory()
        .end_portal_sessions_of(&actor, &official)
        .await
        .map_err(|e| unavailable(&visit, &e))?;
    Ok(redirect("/", &[clear_cookie(SESSION_COOKIE, visit.https)]))
}

/// `2026-03-16` as Vietnamese write dates: `16/03/2026`.
fn day_month_year(day: &str) -> String {
    match day.split('-').collect::<Vec<_>>().as_slice() {
        [year, month, day] => format!("{day}/{month}/{year}"),
        _ => day.to_string(),
    }
}

/// A browser and system people recognise (`Chrome trên Windows`) from a User-Agent header;
/// the header itself when it names neither.
fn browser_name(user_agent: &str, lang: Lang) -> String {
    // Order matters: Edge and Opera say Chrome too, Chrome says Safari, Android says Linux.
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(mark, _)| user_agent.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| user_agent.contains(mark))
    .map(|(_, name)| name);
    let on = match lang {
        Lang::Vi => "trên",
        Lang::En => "on",
    };
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} {on} {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) if user_agent.is_empty() => "?".to_string(),
        (None, None) => user_agent.to_string(),
    }
}

/// A size in the units people read (`1.5 KB`, `2.0 GB`).
fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `HH:MM DD/MM/YYYY` in Vietnam's time zone (UTC+7), which every official lives in.
pub(super) fn local_time(t: UnixTime, lang: Lang) -> String {
    let local = t.in_vietnam();
    let zone = match lang {
        Lang::Vi => "giờ Việt Nam",
        Lang::En => "Vietnam time",
    };
    format!(
        "{:02}:{:02} {:02}/{:02}/{} ({zone})",
        local.hour(),
        local.minute(),
        local.day(),
        u8::from(local.month()),
        local.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_their_unit() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KB");
        assert_eq!(bytes(2 << 30), "2.0 GB");
    }

    #[test]
    fn browsers_and_days_read_as_people_say_them() {
        let chrome_windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(
            browser_name(chrome_windows, Lang::Vi),
            "Chrome trên Windows"
        );
        let edge =
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0";
        assert_eq!(browser_name(edge, Lang::En), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_name(iphone, Lang::Vi), "Safari trên iPhone");
        let android =
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36";
        assert_eq!(browser_name(android, Lang::Vi), "Chrome trên Android");
        assert_eq!(browser_name("curl/8.5", Lang::Vi), "curl/8.5");
        assert_eq!(day_month_year("2026-03-16"), "16/03/2026");
    }

    #[test]
    fn times_are_vietnam_time() {
        // 2026-03-15 01:30 UTC is 08:30 in Vietnam.
        assert_eq!(
            local_time(UnixTime(1_773_538_200), Lang::Vi),
            "08:30 15/03/2026 (giờ Việt Nam)"
        );
    }
}
