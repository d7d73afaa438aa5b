//! Quoting for the three languages the snippets are written in. Inputs are validated elsewhere; these
//! still quote every character correctly so a later change to validation cannot produce broken config.

/// A single-quoted Ruby string: only `\` and `'` are special inside one.
pub(crate) fn ruby(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A single-quoted YAML scalar: `'` is doubled, nothing else is special (no newlines reach here).
pub(crate) fn yaml(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A single-quoted POSIX shell word: `'` closes, escapes and reopens.
pub(crate) fn shell(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_their_specials() {
        assert_eq!(ruby(r"it's a \ test"), r"'it\'s a \\ test'");
        assert_eq!(yaml("it's"), "'it''s'");
        assert_eq!(shell("it's"), r"'it'\''s'");
        assert_eq!(ruby("http://a:5052"), "'http://a:5052'");
    }
}
