//! Inputs an admin types, validated once, here, for the CLI, the wizard and the export alike. Every refusal
//! names the field, the problem and an example of a valid value.

use std::net::{IpAddr, Ipv4Addr};

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

/// The longest DNS name (RFC 1035), without the root's trailing dot.
pub const MAX_HOST_NAME: usize = 253;
/// The longest DNS label.
pub const MAX_LABEL: usize = 63;

/// Why `name` is not a DNS host name, if it is not: labels of 1-63 letters, digits and hyphens, neither
/// starting nor ending with a hyphen, 253 characters in all; one trailing dot (the root) is allowed. A name
/// whose last label is a number is an IPv4 address to every resolver, never a name.
pub fn host_name_problem(name: &str) -> Option<String> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() {
        return Some("is empty".into());
    }
    if n.len() > MAX_HOST_NAME {
        return Some(format!(
            "is {} characters long; a host name has at most {MAX_HOST_NAME}",
            n.len()
        ));
    }
    for label in n.split('.') {
        if label.is_empty() {
            return Some("has an empty label (two dots in a row)".into());
        }
        if label.len() > MAX_LABEL {
            return Some(format!(
                "has a label of {} characters; each part between dots has at most {MAX_LABEL}",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Some(format!(
                "contains {c:?}; a host name has letters, digits, '-' and '.' only"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "has a part \"{label}\" that starts or ends with '-'"
            ));
        }
    }
    if n.rsplit('.').next().is_some_and(looks_numeric) {
        return Some("ends in a number but is not an IPv4 address".into());
    }
    None
}

/// A label a resolver reads as a number: decimal digits, or 0x and hex digits.
fn looks_numeric(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(h) => h.chars().all(|c| c.is_ascii_hexdigit()),
        None => !label.is_empty() && label.chars().all(|c| c.is_ascii_digit()),
    }
}

/// An IPv4 address in any spelling `inet_aton` (and so every resolver and browser) accepts: one to four
/// parts, each decimal, octal (leading 0) or hexadecimal (0x), the last filling the remaining bytes
/// (`127.1`, `0177.0.0.1`, `0x7f000001`, `2130706433`). One trailing dot is allowed, as URLs allow it.
pub fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    let s = s.strip_suffix('.').unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        let n = if digits.is_empty() {
            // "0x" alone is 0 to inet_aton's strtoul and to URL parsers; an empty part is nothing.
            if radix == 16 {
                0
            } else {
                return None;
            }
        } else if digits.chars().all(|c| c.is_digit(radix)) {
            u64::from_str_radix(digits, radix).ok()?
        } else {
            return None;
        };
        nums.push(n);
    }
    let (last, first) = nums.split_last()?;
    if first.iter().any(|&n| n > 255) {
        return None;
    }
    let last_bits = 8 * (4 - first.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let mut v: u64 = 0;
    for (i, &n) in first.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    v |= last;
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

/// The address a host text means, in any spelling: IPv6 (brackets optional) or IPv4 as `inet_aton` reads it.
pub fn host_ip(host: &str) -> Option<IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .or_else(|| parse_ipv4_loose(bare).map(IpAddr::V4))
}

/// Why other machines and containers cannot use `ip` to reach this one, if they cannot. IPv4-mapped and
/// IPv4-compatible IPv6 addresses are judged by the IPv4 address they carry.
pub fn local_only_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                Some("is a loopback address")
            } else if v4.octets()[0] == 0 {
                Some("is the unspecified address")
            } else if v4.is_link_local() {
                Some("is a link-local address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                Some("is a loopback address")
            } else if v6.is_unspecified() {
                Some("is the unspecified address")
            } else if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                Some("is a link-local address")
            } else {
                v6.to_ipv4().and_then(|v4| local_only_ip(IpAddr::V4(v4)))
            }
        }
    }
}

/// Refuses names and addresses that mean "this machine" or "this link" to whoever resolves them, in any
/// spelling, and names that are not DNS host names.
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
    match host_ip(bare) {
        Some(ip) => {
            if let Some(why) = local_only_ip(ip) {
                return Err(refuse(
                    field,
                    format!("{host} {why}: other machines and containers cannot reach it"),
                    example,
                ));
            }
        }
        None => {
            if let Some(problem) = host_name_problem(bare) {
                return Err(refuse(
                    field,
                    format!("\"{host}\" is not a valid host name: it {problem}"),
                    example,
                ));
            }
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

    #[test]
    fn every_spelling_of_a_loopback_or_unspecified_address_is_refused() {
        for bad in [
            "127.1",
            "127.0.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "0x7F.1",
            "0x7f000001",
            "2130706433",
            "017700000001",
            "127.0.0.1.",
            "::ffff:127.0.0.1",
            "[::ffff:7f00:1]",
            "::127.0.0.1",
            "0.0.0.0",
            "0",
            "0x0",
            "::",
            "localhost.",
            "LOCALHOST",
            "LocalHost.",
            "gpu.localhost",
            "x.y.LOCALHOST.",
            "169.254.0.1",
            "0xa9fe0001",
            "::ffff:169.254.1.1",
        ] {
            let e = check_gateway_host("gateway.host", bad).unwrap_err();
            assert_eq!(e.field, "gateway.host");
            assert!(
                e.problem.contains("loopback")
                    || e.problem.contains("unspecified")
                    || e.problem.contains("link-local")
                    || e.problem.contains("different machine"),
                "{bad:?}: {e}"
            );
            let host = if bad.contains(':') && !bad.starts_with('[') {
                format!("[{bad}]")
            } else {
                bad.to_string()
            };
            let url = format!("https://{host}:8443/gitlab");
            let e = parse_gitlab_url("gitlab.url", &url).unwrap_err();
            assert_eq!(e.field, "gitlab.url", "{url}: {e}");
        }
    }

    #[test]
    fn inet_aton_spellings_parse_to_their_address() {
        for (text, ip) in [
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("0x7f.0.0.1", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("10.1", "10.0.0.1"),
            ("10.0x10203", "10.1.2.3"),
            ("0", "0.0.0.0"),
            ("4294967295", "255.255.255.255"),
        ] {
            assert_eq!(parse_ipv4_loose(text), Some(ip.parse().unwrap()), "{text}");
        }
        for not in [
            "",
            ".",
            "1..2",
            "4294967296",
            "256.1.1.1",
            "1.2.3.4.5",
            "08",
            "0x",
            "1.0x1g",
            "1.2.65536",
            "a.b",
        ] {
            // "0x" alone is 0 to inet_aton; everything else here is not an address.
            if not == "0x" {
                assert_eq!(parse_ipv4_loose(not), Some(Ipv4Addr::UNSPECIFIED));
            } else {
                assert_eq!(parse_ipv4_loose(not), None, "{not:?}");
            }
        }
    }

    #[test]
    fn host_names_follow_dns_rules() {
        let label63 = "a".repeat(63);
        let long_ok = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
        assert_eq!(long_ok.len(), 253);
        for ok in [
            "aigw",
            "aigw.example.com",
            "aigw.example.com.",
            "a-b.example.com",
            "xn--bcher-kva.example",
            "10.0.0.5",
            label63.as_str(),
            long_ok.as_str(),
        ] {
            check_gateway_host("gateway.host", ok).unwrap();
        }
        let too_long = format!("{long_ok}b");
        let label64 = "a".repeat(64);
        for (bad, needle) in [
            ("-aigw.example.com", "starts or ends with '-'"),
            ("aigw-.example.com", "starts or ends with '-'"),
            ("aigw..example.com", "empty label"),
            (".example.com", "empty label"),
            ("aigw_1.example.com", "contains '_'"),
            ("aigw.example.com:5052", "contains ':'"),
            ("1.2.3.4.5", "ends in a number"),
            ("aigw.123", "ends in a number"),
            ("256.0.0.1", "ends in a number"),
            (too_long.as_str(), "at most 253"),
            (label64.as_str(), "at most 63"),
        ] {
            let e = check_gateway_host("gateway.host", bad).unwrap_err();
            assert!(e.problem.contains(needle), "{bad:?}: {e}");
            assert!(e.problem.contains("not a valid host name"), "{bad:?}: {e}");
        }
        let e = parse_gitlab_url("gitlab.url", "https://git_lab.example.com").unwrap_err();
        assert!(e.problem.contains("not a valid host name"), "{e}");
    }

    #[test]
    fn public_addresses_and_mapped_public_addresses_pass() {
        for ok in [
            "8.8.8.8",
            "::ffff:10.0.0.5",
            "2001:db8::5",
            "[2001:db8::5]",
            "1.0.0.127",
        ] {
            check_gateway_host("gateway.host", ok).unwrap();
        }
        parse_gitlab_url("gitlab.url", "http://[::ffff:10.0.0.5]:8080").unwrap();
        parse_gitlab_url("gitlab.url", "https://gitlab.example.com.").unwrap();
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// One inet_aton spelling of `n` as a part: decimal, octal (leading 0) or hex (0x/0X).
        fn spell(n: u64, style: u8) -> String {
            match style % 4 {
                0 => n.to_string(),
                1 => format!("0{n:o}"),
                2 => format!("0x{n:x}"),
                _ => format!("0X{n:X}"),
            }
        }

        /// `ip` written with `parts` parts (1-4), each part in its own style.
        fn spellings(ip: Ipv4Addr, parts: usize, styles: [u8; 4]) -> String {
            let o = ip.octets().map(u64::from);
            let v = u64::from(u32::from(ip));
            let nums: Vec<u64> = match parts {
                1 => vec![v],
                2 => vec![o[0], v & 0xff_ffff],
                3 => vec![o[0], o[1], v & 0xffff],
                _ => o.to_vec(),
            };
            nums.iter()
                .zip(styles)
                .map(|(&n, st)| spell(n, st))
                .collect::<Vec<_>>()
                .join(".")
        }

        fn local_v4() -> impl Strategy<Value = Ipv4Addr> {
            prop_oneof![
                any::<[u8; 3]>().prop_map(|[a, b, c]| Ipv4Addr::new(127, a, b, c)),
                any::<[u8; 3]>().prop_map(|[a, b, c]| Ipv4Addr::new(0, a, b, c)),
                any::<[u8; 2]>().prop_map(|[a, b]| Ipv4Addr::new(169, 254, a, b)),
            ]
        }

        fn public_v4() -> impl Strategy<Value = Ipv4Addr> {
            any::<u32>()
                .prop_map(Ipv4Addr::from)
                .prop_filter("not local", |ip| {
                    let o = ip.octets();
                    o[0] != 127 && o[0] != 0 && !(o[0] == 169 && o[1] == 254)
                })
        }

        fn label() -> impl Strategy<Value = String> {
            "[a-z]([a-z0-9-]{0,20}[a-z0-9])?"
        }

        proptest! {
            #[test]
            fn loopback_spellings_are_refused(
                ip in local_v4(),
                parts in 1usize..=4,
                styles in any::<[u8; 4]>(),
                dot in any::<bool>(),
                mapped in any::<bool>(),
            ) {
                let mut text = spellings(ip, parts, styles);
                prop_assert_eq!(parse_ipv4_loose(&text), Some(ip));
                if dot {
                    text.push('.');
                }
                prop_assert!(check_gateway_host("gateway.host", &text).is_err(), "{}", text);
                let url = format!("http://{text}:8080/");
                prop_assert!(parse_gitlab_url("gitlab.url", &url).is_err(), "{}", url);
                if mapped {
                    let v6 = format!("[::ffff:{ip}]");
                    prop_assert!(check_gateway_host("gateway.host", &v6).is_err(), "{}", v6);
                    let v6hex = format!("[{}]", ip.to_ipv6_mapped());
                    prop_assert!(check_gateway_host("gateway.host", &v6hex).is_err(), "{}", v6hex);
                    let url = format!("https://{v6hex}");
                    prop_assert!(parse_gitlab_url("gitlab.url", &url).is_err(), "{}", url);
                }
            }

            #[test]
            fn localhost_names_in_any_case_are_refused(
                sub in proptest::option::of(label()),
                upper in proptest::collection::vec(any::<bool>(), 9),
                dot in any::<bool>(),
            ) {
                let word: String = "localhost"
                    .chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect();
                let mut name = match sub {
                    Some(s) => format!("{s}.{word}"),
                    None => word,
                };
                if dot {
                    name.push('.');
                }
                prop_assert!(check_gateway_host("gateway.host", &name).is_err(), "{}", name);
                let url = format!("https://{name}");
                prop_assert!(parse_gitlab_url("gitlab.url", &url).is_err(), "{}", url);
            }

            #[test]
            fn public_addresses_are_accepted(ip in public_v4()) {
                prop_assert!(check_gateway_host("gateway.host", &ip.to_string()).is_ok(), "{}", ip);
                let url = format!("https://{ip}:8443");
                prop_assert!(parse_gitlab_url("gitlab.url", &url).is_ok(), "{}", url);
            }

            #[test]
            fn valid_host_names_are_accepted(labels in proptest::collection::vec(label(), 1..5)) {
                let name = labels.join(".");
                prop_assume!(!is_local_only_name(&name));
                prop_assert!(check_gateway_host("gateway.host", &name).is_ok(), "{}", name);
                let url = format!("https://{name}/gitlab");
                prop_assert!(parse_gitlab_url("gitlab.url", &url).is_ok(), "{}", url);
            }
        }
    }
}
