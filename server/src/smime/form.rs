//! Which S/MIME form a message takes at its top level (RFC 8551 §3.5), and where its signed
//! content and signature are. Only the top-level entity counts: a signed message forwarded
//! inside a multipart/mixed is not shown as signed by mail clients, so it is not signed here.

use std::borrow::Cow;

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};

/// The S/MIME shape of a message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Form<'m> {
    /// No S/MIME signature at the top level (including encrypted-only and PGP/MIME mail).
    Unsigned,
    /// `multipart/signed` with an S/MIME protocol whose parts cannot be found.
    Unreadable,
    /// `multipart/signed` (RFC 8551 §3.5.3): the first body part's exact bytes, MIME headers
    /// included, and the decoded detached signature.
    Detached {
        content: &'m [u8],
        signature: Cow<'m, [u8]>,
    },
    /// `application/pkcs7-mime` that may be signed-data (RFC 8551 §3.5.2): the decoded CMS.
    /// `declared` when `smime-type=signed-data` says so; without the parameter only the CMS
    /// content type tells.
    Opaque { cms: Cow<'m, [u8]>, declared: bool },
}

/// The S/MIME signature protocols of `multipart/signed` (RFC 8551 §3.5.3.2; the `x-` spelling
/// is what older clients send).
const SIGNATURE_TYPES: [&str; 2] = [
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
];

/// Finds the S/MIME form of `message`.
pub(super) fn form(message: &[u8]) -> Form<'_> {
    let Some(mut parsed) = MessageParser::new().parse(message) else {
        return Form::Unsigned;
    };
    let Some(root) = parsed.parts.first() else {
        return Form::Unsigned;
    };
    let Some(content_type) = root.content_type() else {
        return Form::Unsigned;
    };
    // mail-parser lowercases types and parameter names, not parameter values.
    let subtype = content_type.subtype().unwrap_or_default();
    match (content_type.ctype(), subtype) {
        ("multipart", "signed") => {
            // The two body parts of RFC 1847 §2.1: the signed content, then the signature.
            let (content_id, signature_id) = match &root.body {
                PartType::Multipart(ids) if ids.len() >= 2 => (ids[0] as usize, ids[1] as usize),
                _ => (usize::MAX, usize::MAX),
            };
            let is_smime = match content_type.attribute("protocol") {
                Some(protocol) => is_signature_type(protocol),
                // RFC 1847 §2.1 requires the parameter; without it, the signature part's type
                // is the only indication.
                None => parsed.parts.get(signature_id).is_some_and(|part| {
                    full_type(part).is_some_and(|type_| is_signature_type(&type_))
                }),
            };
            if !is_smime {
                return Form::Unsigned;
            }
            let content = parsed.parts.get(content_id).and_then(|part| {
                message.get(part.offset_header as usize..part.offset_end as usize)
            });
            match (content, parsed.parts.get_mut(signature_id)) {
                (Some(content), Some(signature)) => Form::Detached {
                    content,
                    signature: take_contents(signature),
                },
                _ => Form::Unreadable,
            }
        }
        ("application", "pkcs7-mime" | "x-pkcs7-mime") => {
            let smime_type = content_type
                .attribute("smime-type")
                .map(str::to_ascii_lowercase);
            let declared = match smime_type.as_deref() {
                Some("signed-data") => true,
                None => false,
                // enveloped-data, authEnveloped-data, compressed-data, certs-only: nothing
                // signed can be seen (RFC 8551 §3.2.2).
                Some(_) => return Form::Unsigned,
            };
            Form::Opaque {
                cms: take_contents(&mut parsed.parts[0]),
                declared,
            }
        }
        _ => Form::Unsigned,
    }
}

/// The decoded body of `part`, moved out rather than copied: a signature or an opaque
/// message can be most of a message's size.
fn take_contents<'m>(part: &mut MessagePart<'m>) -> Cow<'m, [u8]> {
    match std::mem::take(&mut part.body) {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes,
        PartType::Text(text) | PartType::Html(text) => match text {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        },
        // A nested message or multipart where a signature belongs: nothing to read.
        PartType::Message(_) | PartType::Multipart(_) => Cow::Borrowed(&[]),
    }
}

fn is_signature_type(type_: &str) -> bool {
    SIGNATURE_TYPES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(type_.trim()))
}

/// `type/subtype` of a part, lowercase.
fn full_type(part: &MessagePart<'_>) -> Option<String> {
    let content_type = part.content_type()?;
    Some(format!(
        "{}/{}",
        content_type.ctype(),
        content_type.subtype()?
    ))
}
