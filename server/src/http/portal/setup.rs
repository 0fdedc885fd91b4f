//! "Set up my mail": the settings page, and the Apple configuration profile that sets up an
//! iPhone or iPad in one tap. Host names and ports are those autoconfiguration serves
//! (`[http]`), so every way of setting up a client says the same.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use plist::{Dictionary, Value};
use sha2::{Digest, Sha256};

use super::{page, pages, unavailable, Answer, Portal, Visit};
use crate::directory::Official;
use crate::http::AutoconfigSettings;

/// One mail service a client connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Endpoint<'a> {
    pub host: &'a str,
    pub port: u16,
    /// Implicit TLS (993, 465); otherwise STARTTLS.
    pub implicit_tls: bool,
}

/// Where clients read mail: implicit TLS when offered, else STARTTLS (RFC 8314 §3).
fn incoming(mail: &AutoconfigSettings) -> Endpoint<'_> {
    prefer(&mail.mail_hostname, mail.imaps_port, mail.imap_port)
}

/// Where clients send mail, likewise.
fn outgoing(mail: &AutoconfigSettings) -> Endpoint<'_> {
    prefer(
        &mail.mail_hostname,
        mail.submissions_port,
        mail.submission_port,
    )
}

fn prefer(host: &str, implicit: u16, starttls: u16) -> Endpoint<'_> {
    if implicit != 0 || starttls == 0 {
        Endpoint {
            host,
            port: implicit,
            implicit_tls: true,
        }
    } else {
        Endpoint {
            host,
            port: starttls,
            implicit_tls: false,
        }
    }
}

/// `GET /setup`.
pub(super) async fn setup(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (session, official) = portal.account_session(&visit).await?;
    let t = visit.texts();
    let mail = &portal.state.settings.mail;
    let mut rows = vec![(
        t.addresses_label.to_string(),
        official.primary_address.clone(),
    )];
    for (direction, endpoint) in [
        (t.incoming_imap, incoming(mail)),
        (t.outgoing_smtp, outgoing(mail)),
    ] {
        let security = if endpoint.implicit_tls {
            t.security_tls
        } else {
            t.security_starttls
        };
        rows.push((
            format!("{direction}: {}", t.server_label),
            endpoint.host.to_string(),
        ));
        rows.push((
            format!("{direction}: {}", t.port_label),
            endpoint.port.to_string(),
        ));
        rows.push((
            format!("{direction}: {}", t.security_label),
            security.to_string(),
        ));
    }
    let html = pages::render(&pages::SetupPage {
        t,
        csrf: &session.csrf_token,
        current: "setup",
        login: &official.login,
        rows,
    });
    Ok(page(&visit, StatusCode::OK, html, &[]))
}

/// `GET /setup/apple.mobileconfig`: a configuration profile with the official's IMAP and
/// SMTP account. The password is not in it: the device asks for it.
pub(super) async fn mobileconfig(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (_, official) = portal.account_session(&visit).await?;
    let profile = apple_profile(&official, &portal.state.settings.mail);
    let mut xml = Vec::new();
    plist::to_writer_xml(&mut xml, &profile).map_err(|e| unavailable(&visit, &e))?;
    let filename = format!("attachment; filename=\"{}.mobileconfig\"", official.login);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/x-apple-aspen-config".to_string(),
            ),
            (header::CONTENT_DISPOSITION, filename),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        xml,
    )
        .into_response())
}

/// The profile (Apple's Configuration Profile Reference, `com.apple.mail.managed`). Its
/// identifiers and UUIDs are derived from the official, so installing it again replaces
/// the account instead of adding a second one.
pub(super) fn apple_profile(official: &Official, mail: &AutoconfigSettings) -> Value {
    let domain_id: String = mail
        .primary_domain
        .split('.')
        .rev()
        .collect::<Vec<_>>()
        .join(".");
    let identifier = format!("{domain_id}.mail.{}", official.login);
    let (imap, smtp) = (incoming(mail), outgoing(mail));
    let mut account = Dictionary::new();
    let mut put = |key: &str, value: Value| {
        account.insert(key.to_string(), value);
    };
    put("PayloadType", "com.apple.mail.managed".into());
    put("PayloadVersion", 1.into());
    put("PayloadIdentifier", format!("{identifier}.account").into());
    put(
        "PayloadUUID",
        derived_uuid(&official.uuid, "account").into(),
    );
    put("PayloadDisplayName", mail.display_name.clone().into());
    put("EmailAccountDescription", mail.display_name.clone().into());
    put("EmailAccountName", official.display_name.clone().into());
    put("EmailAccountType", "EmailTypeIMAP".into());
    put("EmailAddress", official.primary_address.clone().into());
    put(
        "IncomingMailServerAuthentication",
        "EmailAuthPassword".into(),
    );
    put("IncomingMailServerHostName", imap.host.into());
    put("IncomingMailServerPortNumber", i64::from(imap.port).into());
    put("IncomingMailServerUseSSL", true.into());
    put("IncomingMailServerUsername", official.login.clone().into());
    put(
        "OutgoingMailServerAuthentication",
        "EmailAuthPassword".into(),
    );
    put("OutgoingMailServerHostName", smtp.host.into());
    put("OutgoingMailServerPortNumber", i64::from(smtp.port).into());
    put("OutgoingMailServerUseSSL", true.into());
    put("OutgoingMailServerUsername", official.login.clone().into());
    put("OutgoingPasswordSameAsIncomingPassword", true.into());
    let mut profile = Dictionary::new();
    profile.insert(
        "PayloadContent".into(),
        Value::Array(vec![Value::Dictionary(account)]),
    );
    profile.insert(
        "PayloadDisplayName".into(),
        mail.display_name.clone().into(),
    );
    profile.insert("PayloadIdentifier".into(), identifier.into());
    profile.insert(
        "PayloadOrganization".into(),
        mail.display_name.clone().into(),
    );
    profile.insert("PayloadType".into(), "Configuration".into());
    profile.insert(
        "PayloadUUID".into(),
        derived_uuid(&official.uuid, "profile").into(),
    );
    profile.insert("PayloadVersion".into(), 1.into());
    Value::Dictionary(profile)
}

/// A UUID-shaped name derived from the official's stable id and a role.
fn derived_uuid(official_uuid: &str, role: &str) -> String {
    let digest = Sha256::digest(format!("{official_uuid}/{role}").as_bytes());
    let h = hex::encode_upper(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_tls_is_preferred_and_starttls_used_when_alone() {
        assert_eq!(
            prefer("h", 993, 143),
            Endpoint {
                host: "h",
                port: 993,
                implicit_tls: true
            }
        );
        assert_eq!(
            prefer("h", 0, 587),
            Endpoint {
                host: "h",
                port: 587,
                implicit_tls: false
            }
        );
    }

    #[test]
    fn derived_uuids_are_stable_and_distinct_per_role() {
        let a = derived_uuid("9b2f", "account");
        assert_eq!(a.len(), 36);
        assert_eq!(a, derived_uuid("9b2f", "account"));
        assert_ne!(a, derived_uuid("9b2f", "profile"));
    }
}
