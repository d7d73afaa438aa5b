//! Values that must never be shown: a Hugging Face token, a JWT signing key. `Debug` and `Display` print
//! `***`, so a `{:?}` in a log line, a panic or an error cannot leak one; [`Secret::expose`] hands the
//! value to the one place that needs it (a 0600 file, a container's environment).

use serde::Deserialize;
use std::fmt;

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether an environment variable's name says it holds a secret (`*_KEY`, `*_TOKEN`, passwords): its
/// value is masked wherever a container's configuration is shown.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD"]
        .iter()
        .any(|w| n.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let s = Secret::new("hf_secret123");
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "hf_secret123");
        assert!(is_secret_name("AIGW_SELF_SIGNED_JWT__SIGNING_KEY"));
        assert!(is_secret_name("HF_TOKEN"));
        assert!(!is_secret_name("AIGW_GITLAB_URL"));
    }
}
