//! The labels that mark what this installer created. Everything the engine lists, changes or removes is
//! found by these labels, never by name alone, so nothing the installer did not create is ever touched.

/// Present, with value [`APP_ID`], on every object this installer creates.
pub const APP: &str = "io.aigw-installer.app";

pub const APP_ID: &str = "aigw-installer";

/// `gateway` or `model`.
pub const COMPONENT: &str = "io.aigw-installer.component";

/// SHA-256 of the container's desired configuration; a different hash means "recreate".
pub const CONFIG_HASH: &str = "io.aigw-installer.config-hash";

/// `text` with each config-hash digest (the 64 hex digits after a [`CONFIG_HASH`] label) replaced by
/// `[sha256]`, and nothing else touched: generated files compared without the hash, which has its own
/// tests, while a dropped `\` or a broken quote beside it still shows.
pub fn without_config_digests(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(CONFIG_HASH) {
        let after = at + CONFIG_HASH.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        // The digest follows within a few characters (`=`, `: "`).
        let start = rest
            .char_indices()
            .take(4)
            .find(|(_, c)| c.is_ascii_hexdigit())
            .map(|(i, _)| i);
        match start {
            Some(s)
                if rest[s..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .count()
                    == 64 =>
            {
                out.push_str(&rest[..s]);
                out.push_str("[sha256]");
                rest = &rest[s + 64..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_digest_is_replaced() {
        let d = "ab".repeat(32);
        let text = format!(
            "  --label {CONFIG_HASH}={d} \\\n      {CONFIG_HASH}: \"{d}\"\n{CONFIG_HASH}=short\n"
        );
        assert_eq!(
            without_config_digests(&text),
            format!(
                "  --label {CONFIG_HASH}=[sha256] \\\n      {CONFIG_HASH}: \"[sha256]\"\n{CONFIG_HASH}=short\n"
            )
        );
    }
}
