//! Inputs an admin types, validated once, here, for the CLI, the wizard and the export alike. Every refusal
//! names the field, the problem and an example of a valid value.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InputError {
    pub field: String,
    pub problem: String,
    pub example: &'static str,
}

impl crate::problem::Explain for InputError {
    fn code(&self) -> &'static str {
        "invalid_input"
    }
    fn fix(&self) -> Option<String> {
        Some(format!("for example: {}", self.example))
    }
    fn field(&self) -> Option<String> {
        Some(self.field.clone())
    }
}

pub(crate) fn refuse(field: &str, problem: impl Into<String>, example: &'static str) -> InputError {
    InputError {
        field: field.to_string(),
        problem: problem.into(),
        example,
    }
}

/// A URL field's text before parsing: not empty, no spaces. `shown` is the input as errors may echo it.
pub(crate) fn check_url_text(
    field: &str,
    shown: &str,
    example: &'static str,
) -> Result<(), InputError> {
    if shown.is_empty() {
        return Err(refuse(field, "is empty", example));
    }
    if shown.chars().any(char::is_whitespace) {
        return Err(refuse(
            field,
            format!("\"{shown}\" contains a space"),
            example,
        ));
    }
    Ok(())
}

/// What every URL field refuses once parsed: a scheme other than http(s), credentials, a query or fragment.
pub(crate) fn check_url_parts(
    field: &str,
    url: &url::Url,
    example: &'static str,
) -> Result<(), InputError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(
            field,
            format!("scheme {} is not http or https", url.scheme()),
            example,
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs, gitlab.rb, Helm values, env files and process lists.
        return Err(refuse(
            field,
            "must not contain a user name or password",
            example,
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse(
            field,
            "must not have a ?query or #fragment",
            example,
        ));
    }
    Ok(())
}

/// A GitLab instance URL: scheme, host, optional port and optional relative-URL path; no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabUrl(url::Url);

impl GitlabUrl {
    /// `https://gitlab.example.com` or `https://example.com/gitlab` (never a trailing slash).
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// `AIGW_GITLAB_API_URL`, derived so that it can never disagree with the GitLab URL.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4/", self.as_str())
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

const GITLAB_EXAMPLE: &str = "https://gitlab.example.com";

pub fn parse_gitlab_url(field: &str, input: &str) -> Result<GitlabUrl, InputError> {
    let s = input.trim();
    check_url_text(field, s, GITLAB_EXAMPLE)?;
    let url = url::Url::parse(s).map_err(|e| {
        let hint = if e == url::ParseError::RelativeUrlWithoutBase {
            "has no scheme: start it with https:// or http://".to_string()
        } else {
            format!("\"{s}\" is not a URL: {e}")
        };
        refuse(field, hint, GITLAB_EXAMPLE)
    })?;
    check_url_parts(field, &url, GITLAB_EXAMPLE)?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(refuse(field, "has no host", GITLAB_EXAMPLE));
    }
    // The gateway container fetches GitLab's keys from this URL: "localhost" would be the container itself.
    check_reachable_host(field, host, GITLAB_EXAMPLE)?;
    Ok(GitlabUrl(url))
}

/// The host GitLab and IDEs use to reach the gateway (a name or an address, no scheme, no port).
pub fn check_gateway_host(field: &str, host: &str) -> Result<(), InputError> {
    const EX: &str = "aigw.example.com or 10.0.0.5";
    let h = host.trim();
    if h.is_empty() {
        return Err(refuse(field, "is empty", EX));
    }
    if h.contains("://") || h.contains('/') {
        return Err(refuse(
            field,
            format!("\"{h}\" must be a host name only, without scheme or path"),
            EX,
        ));
    }
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_err()
        && !bare.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    {
        return Err(refuse(
            field,
            format!("\"{h}\" is not a valid host name"),
            EX,
        ));
    }
    check_reachable_host(field, bare, EX)
}

/// Names that only ever mean "this machine".
pub fn is_local_only_name(name: &str) -> bool {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    n == "localhost"
        || n.ends_with(".localhost")
        || n == "localhost.localdomain"
        || n == "ip6-localhost"
}

/// Refuses names and addresses that mean "this machine" or "this link" to whoever resolves them.
fn check_reachable_host(field: &str, host: &str, example: &'static str) -> Result<(), InputError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if is_local_only_name(bare) {
        return Err(refuse(
            field,
            format!(
                "\"{host}\" means a different machine to GitLab, to the gateway container and to each IDE; \
                 use a name or address they can all reach"
            ),
            example,
        ));
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        let why = match ip {
            _ if ip.is_loopback() => Some("is a loopback address"),
            _ if ip.is_unspecified() => Some("is the unspecified address"),
            IpAddr::V4(v4) if v4.is_link_local() => Some("is a link-local address"),
            IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => {
                Some("is a link-local address")
            }
            _ => None,
        };
        if let Some(why) = why {
            return Err(refuse(
                field,
                format!("{host} {why}: other machines and containers cannot reach it"),
                example,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_urls_are_normalised_and_the_api_url_derived() {
        let u = parse_gitlab_url("gitlab.url", "https://gitlab.example.com/").unwrap();
        assert_eq!(u.as_str(), "https://gitlab.example.com");
        assert_eq!(u.api_url(), "https://gitlab.example.com/api/v4/");
        let rel = parse_gitlab_url("gitlab.url", "https://example.com:8443/gitlab").unwrap();
        assert_eq!(rel.api_url(), "https://example.com:8443/gitlab/api/v4/");
    }

    #[test]
    fn bad_gitlab_urls_are_refused_with_field_and_example() {
        for (input, needle) in [
            ("", "empty"),
            ("gitlab.example.com", "no scheme"),
            ("ftp://gitlab.example.com", "scheme ftp"),
            (
                "https://root:secret@gitlab.example.com",
                "user name or password",
            ),
            ("https://gitlab example.com", "space"),
            ("https://gitlab.example.com/?x=1", "query"),
            ("http://localhost", "different machine"),
            ("http://127.0.0.1:8080", "loopback"),
            ("http://[::1]", "loopback"),
        ] {
            let e = parse_gitlab_url("gitlab.url", input).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("gitlab.url: "), "{text}");
            assert!(text.contains(needle), "{input:?}: {text}");
            // The example is the fix, printed once beside the message.
            let fix = crate::problem::Explain::fix(&e).unwrap_or_default();
            assert!(fix.contains("https://gitlab.example.com"), "{fix}");
        }
    }

    #[test]
    fn gateway_hosts() {
        for ok in ["aigw.example.com", "gpu01", "10.0.0.5", "[2001:db8::5]"] {
            check_gateway_host("gateway.host", ok).unwrap();
        }
        for (bad, needle) in [
            ("localhost", "different machine"),
            ("LOCALHOST", "different machine"),
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("http://aigw.example.com", "without scheme"),
            ("aigw_example.com", "not a valid host name"),
            ("", "empty"),
        ] {
            let e = check_gateway_host("gateway.host", bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
    }

    #[test]
    fn localhost_names_are_refused() {
        for n in [
            "localhost",
            "LOCALHOST.",
            "foo.localhost",
            "localhost.localdomain",
        ] {
            assert!(is_local_only_name(n), "{n}");
        }
        assert!(!is_local_only_name("gpu01.example.com"));
    }
}
