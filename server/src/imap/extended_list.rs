//! LIST with RFC 5258 options, as RFC 6154 uses them: `LIST (SPECIAL-USE) "" "*"` selects
//! only special-use mailboxes and `LIST "" "*" RETURN (SPECIAL-USE)` asks for the attributes.
//! imap-codec does not parse these forms yet, so a command that failed to parse and has this
//! shape is rewritten into a plain LIST plus the options, and decoded again.

/// The LIST options a client asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ListOptions {
    /// Selection `(SPECIAL-USE)`: only mailboxes with a special use.
    pub special_use_only: bool,
    /// Selection `(SUBSCRIBED)`: only subscribed mailboxes.
    pub subscribed_only: bool,
    /// `RETURN (SUBSCRIBED)`: mark subscribed mailboxes `\Subscribed`.
    pub return_subscribed: bool,
}

/// `tag LIST ref pattern\r\n` and the options, for a LIST written with selection or return
/// options; `None` for anything else.
pub(super) fn rewrite(message: &[u8]) -> Option<(Vec<u8>, ListOptions)> {
    let text = std::str::from_utf8(message).ok()?;
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))?;
    if line.contains(['\r', '\n']) {
        return None;
    }
    let (tag, rest) = line.split_once(' ')?;
    let (command, mut rest) = rest.split_once(' ')?;
    if !command.eq_ignore_ascii_case("LIST") {
        return None;
    }
    let mut options = ListOptions::default();
    let mut changed = false;
    if let Some(after) = rest.strip_prefix('(') {
        let (selection, after) = after.split_once(')')?;
        for option in selection.split_whitespace() {
            match option.to_ascii_uppercase().as_str() {
                "SPECIAL-USE" => options.special_use_only = true,
                "SUBSCRIBED" => options.subscribed_only = true,
                "RECURSIVEMATCH" => {}
                _ => return None,
            }
        }
        rest = after.strip_prefix(' ')?;
        changed = true;
    }
    let upper = rest.to_ascii_uppercase();
    if let Some(at) = upper.rfind(" RETURN (") {
        let returned = rest[at + " RETURN (".len()..].strip_suffix(')')?;
        for option in returned.split_whitespace() {
            match option.to_ascii_uppercase().as_str() {
                "SPECIAL-USE" | "CHILDREN" => {}
                "SUBSCRIBED" => options.return_subscribed = true,
                _ => return None,
            }
        }
        rest = &rest[..at];
        changed = true;
    }
    changed.then(|| (format!("{tag} LIST {rest}\r\n").into_bytes(), options))
}

#[cfg(test)]
mod tests {
    use super::{rewrite, ListOptions};

    #[test]
    fn selection_and_return_options_become_a_plain_list() {
        let (line, options) = rewrite(b"a1 LIST (SPECIAL-USE) \"\" \"*\"\r\n").unwrap();
        assert_eq!(line, b"a1 LIST \"\" \"*\"\r\n");
        assert!(options.special_use_only);
        let (line, options) =
            rewrite(b"a2 list \"\" \"%\" return (special-use subscribed)\r\n").unwrap();
        assert_eq!(line, b"a2 LIST \"\" \"%\"\r\n");
        assert_eq!(
            options,
            ListOptions {
                return_subscribed: true,
                ..ListOptions::default()
            }
        );
    }

    #[test]
    fn other_commands_and_unknown_options_are_left_alone() {
        assert_eq!(rewrite(b"a1 LIST \"\" \"*\"\r\n"), None);
        assert_eq!(rewrite(b"a1 LSUB (SPECIAL-USE) \"\" \"*\"\r\n"), None);
        assert_eq!(rewrite(b"a1 LIST (REMOTE) \"\" \"*\"\r\n"), None);
        assert_eq!(
            rewrite(b"a1 LIST \"\" \"*\" RETURN (STATUS (MESSAGES))\r\n"),
            None
        );
    }
}
