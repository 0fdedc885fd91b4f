//! Header fields the MX removes or adds. An `Authentication-Results:` field that names this
//! server as its author can only be a forgery when it arrives from outside (RFC 8601 §5): it
//! is removed before the message is stored, so that no client trusts a verdict congvu never
//! gave.

use std::borrow::Cow;

use mail_parser::MessageParser;

/// `message` without the `Authentication-Results:` fields whose authserv-id is `hostname`
/// (compared without case); other fields, their order and the body are kept byte for byte.
pub fn remove_forged_results<'m>(message: &'m [u8], hostname: &str) -> Cow<'m, [u8]> {
    let Some(parsed) = MessageParser::new().parse_headers(message) else {
        return Cow::Borrowed(message);
    };
    let forged: Vec<(usize, usize)> = parsed
        .root_part()
        .headers()
        .iter()
        .filter(|h| {
            h.name
                .as_str()
                .eq_ignore_ascii_case("Authentication-Results")
        })
        .map(|h| (h.offset_field as usize, h.offset_end as usize))
        .filter(|&(start, end)| {
            let value = message.get(start..end).unwrap_or_default();
            authserv_id(value).is_some_and(|id| id.eq_ignore_ascii_case(hostname))
        })
        .collect();
    if forged.is_empty() {
        return Cow::Borrowed(message);
    }
    let mut kept = Vec::with_capacity(message.len());
    let mut from = 0;
    for (start, end) in forged {
        kept.extend_from_slice(&message[from..start]);
        from = end;
    }
    kept.extend_from_slice(&message[from..]);
    Cow::Owned(kept)
}

/// The authserv-id of one whole `Authentication-Results:` field: the first token of its
/// value (RFC 8601 §2.2), unfolded, without comments.
fn authserv_id(field: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(field);
    let (_, value) = text.split_once(':')?;
    let mut id = String::new();
    let mut depth = 0u32;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            ';' => break,
            c if c.is_whitespace() => {
                if !id.is_empty() {
                    break;
                }
            }
            c => id.push(c),
        }
    }
    (!id.is_empty()).then_some(id)
}

/// `message` with `fields` (whole header fields, each ending in CRLF) on top.
pub fn prepend_header(fields: &str, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.len() + message.len());
    out.extend_from_slice(fields.as_bytes());
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "mail.vinhphuc.gov.vn";

    #[test]
    fn only_results_claiming_this_host_are_removed() {
        let message = b"Authentication-Results: MAIL.vinhphuc.gov.vn; dkim=pass\r\n\
Received: from x\r\n\
Authentication-Results: mx.hanoi.gov.vn;\r\n\tspf=pass smtp.mailfrom=hanoi.gov.vn\r\n\
Authentication-Results: (forged) mail.vinhphuc.gov.vn (comment);\r\n\tdmarc=pass\r\n\
From: a@hanoi.gov.vn\r\n\
\r\n\
Authentication-Results: mail.vinhphuc.gov.vn; in the body stays\r\n";
        let kept = remove_forged_results(message, HOST);
        assert_eq!(
            String::from_utf8_lossy(&kept),
            "Received: from x\r\n\
Authentication-Results: mx.hanoi.gov.vn;\r\n\tspf=pass smtp.mailfrom=hanoi.gov.vn\r\n\
From: a@hanoi.gov.vn\r\n\
\r\n\
Authentication-Results: mail.vinhphuc.gov.vn; in the body stays\r\n"
        );
    }

    #[test]
    fn a_message_without_forgeries_is_not_copied() {
        let message =
            b"Authentication-Results: mx.hanoi.gov.vn; none\r\nSubject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            remove_forged_results(message, HOST),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_authserv_id_is_the_first_token() {
        assert_eq!(
            authserv_id(b"Authentication-Results: (c) host.example 1; spf=pass").as_deref(),
            Some("host.example")
        );
        assert_eq!(
            authserv_id(b"Authentication-Results:\r\n host.example;none").as_deref(),
            Some("host.example")
        );
        assert_eq!(authserv_id(b"Authentication-Results: ;").as_deref(), None);
    }
}
