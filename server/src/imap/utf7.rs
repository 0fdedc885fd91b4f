//! Mailbox names on the wire: IMAP's modified UTF-7 (RFC 3501 §5.1.3). Folder names are
//! stored as Unicode (`Công văn đến`) and travel as `C&APQ-ng v&AQM-n &ARE-&Hr8-n`; ASCII
//! printable characters stand for themselves, `&` is `&-`, and everything else is UTF-16 in
//! a base64 variant with `,` for `/`.

use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::Engine;

const MUTF7: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

/// Encodes a Unicode mailbox name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&MUTF7.encode(bytes));
    out.push('-');
    pending.clear();
}

/// Decodes a wire mailbox name; `None` if it is not valid modified UTF-7.
pub fn decode(wire: &str) -> Option<String> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = MUTF7.decode(encoded).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            let text = String::from_utf16(&units).ok()?;
            // Printable ASCII must stand for itself, never be encoded.
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&text);
        }
        rest = &after[end + 1..];
    }
    if rest.chars().any(|c| !(' '..='~').contains(&c)) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn vietnamese_folder_names_round_trip() {
        for name in [
            "Công văn đến",
            "Hồ sơ/2024/Quý 1",
            "Tài liệu & Báo cáo",
            "Phòng Tổ chức – Hành chính",
            "INBOX",
            "日本語",
            "😀 vui",
        ] {
            let wire = encode(name);
            assert!(wire.is_ascii(), "{wire}");
            assert_eq!(decode(&wire).as_deref(), Some(name), "{wire}");
        }
    }

    #[test]
    fn known_encodings_match_rfc_3501() {
        // RFC 3501 §5.1.3's example.
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(encode("Đ"), "&ARA-");
    }

    #[test]
    fn malformed_names_are_refused() {
        assert_eq!(decode("&ZeVnLIqe"), None, "unterminated");
        assert_eq!(decode("&AGE-"), None, "encoded ASCII 'a'");
        assert_eq!(decode("caf\u{e9}"), None, "raw 8-bit");
    }
}

#[cfg(test)]
mod proptests;
