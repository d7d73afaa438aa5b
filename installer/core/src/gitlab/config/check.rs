//! Validation of the GitLab-side inputs. Every refusal names the field, the problem and a valid example,
//! like the rest of `gitlab::inputs`.

use crate::catalog::gitlab::{GitlabVersion, FIRST_SELF_HOSTED};
use crate::gitlab::inputs::{
    check_gateway_host, check_url_parts, check_url_text, refuse, InputError,
};

const GATEWAY_EXAMPLE: &str = "http://aigw.example.com:5052";

/// The URL GitLab (and IDEs) use for the gateway: `http(s)://host[:port]`, normalised without a
/// trailing slash. Refuses local-only hosts, credentials, paths, spaces and bad ports.
pub fn gateway_url_checked(input: &str) -> Result<String, InputError> {
    let url = http_url("gateway_url", input, GATEWAY_EXAMPLE)?;
    if url.path() != "/" && !url.path().is_empty() {
        return Err(refuse(
            "gateway_url",
            format!(
                "must not have a path (\"{}\"): the gateway serves at the root; /v1 belongs to the model endpoint",
                url.path()
            ),
            GATEWAY_EXAMPLE,
        ));
    }
    Ok(origin(&url))
}

/// The model endpoint GitLab registers: `http(s)://host:port/v1` (without `/v1` vLLM answers 404).
pub fn model_endpoint_checked(input: &str) -> Result<String, InputError> {
    const EX: &str = "http://gpu01.example.com:8000/v1";
    let url = http_url("model.endpoint", input, EX)?;
    let path = url.path().trim_end_matches('/');
    if !path.ends_with("/v1") {
        return Err(refuse(
            "model.endpoint",
            format!(
                "\"{}\" must end in /v1 (the OpenAI-compatible API); without it requests get 404",
                shown(input)
            ),
            EX,
        ));
    }
    Ok(format!("{}{path}", origin(&url)))
}

/// A model URL typed on the host that runs the model server: loopback is right there (the port is
/// published on it), so only the form is checked: `http(s)://host:port/v1`.
pub(crate) fn model_endpoint_checked_local(input: &str) -> Result<String, InputError> {
    const EX: &str = "http://127.0.0.1:8000/v1";
    let url = url::Url::parse(input.trim()).map_err(|e| {
        refuse(
            "model_check",
            format!("\"{}\" is not a URL: {e}", shown(input)),
            EX,
        )
    })?;
    check_url_parts("model_check", &url, EX)?;
    let path = url.path().trim_end_matches('/');
    if !path.ends_with("/v1") {
        return Err(refuse("model_check", "must end in /v1", EX));
    }
    Ok(format!("{}{path}", origin(&url)))
}

/// The Agent Platform (Duo Workflow Service) address: `host:port`, no scheme (18.4+ Admin UI field).
pub fn agent_platform_checked(input: &str) -> Result<String, InputError> {
    const F: &str = "agent_platform";
    const EX: &str = "aigw.example.com:50052";
    let s = input.trim();
    if s.contains('@') {
        return Err(refuse(F, "must not contain a user name or password", EX));
    }
    if s.contains("://") {
        return Err(refuse(
            F,
            format!("\"{s}\" must be host:port without http:// or https://"),
            EX,
        ));
    }
    let Some((host, port)) = s.rsplit_once(':').filter(|(h, _)| !h.is_empty()) else {
        return Err(refuse(
            F,
            format!("\"{s}\" has no port; the Agent Platform listens on 50052"),
            EX,
        ));
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err(refuse(
            F,
            format!("\"{s}\": write an IPv6 address in brackets"),
            "[2001:db8::5]:50052",
        ));
    }
    check_port(F, port, EX)?;
    check_gateway_host(F, host).map_err(|e| refuse(F, e.problem, EX))?;
    Ok(s.to_string())
}

/// A GitLab version typed by an admin; releases before Duo Self-Hosted (17.1) are refused.
pub fn gitlab_version_checked(input: &str) -> Result<GitlabVersion, InputError> {
    let v: GitlabVersion = input
        .parse()
        .map_err(|e: crate::catalog::gitlab::VersionError| {
            refuse(
                "gitlab_version",
                format!("\"{}\" {}", e.value, e.reason),
                "18.2 or 18.2.1",
            )
        })?;
    check_version(v)?;
    Ok(v)
}

pub(crate) fn check_version(v: GitlabVersion) -> Result<(), InputError> {
    if v < FIRST_SELF_HOSTED {
        return Err(refuse(
            "gitlab_version",
            format!("GitLab {v} predates GitLab Duo Self-Hosted, which first shipped in {FIRST_SELF_HOSTED}"),
            "18.2 or 18.2.1",
        ));
    }
    Ok(())
}

/// Families in `Ai::SelfHostedModel` by version (docs/gitlab-config.md, "Version rules"). 17.2–17.4 are not captured there; the
/// 17.3 docs already approve Codestral, CodeGemma and Code Llama, so they get the ~17.5 list (inferred).
pub(crate) fn families(v: GitlabVersion) -> Vec<&'static str> {
    let mut f = vec!["mistral", "mixtral"];
    if v >= GitlabVersion::new(17, 2) {
        f.extend([
            "llama3",
            "codegemma",
            "codestral",
            "codellama",
            "deepseekcoder",
            "claude_3",
            "gpt",
        ]);
    }
    if v >= GitlabVersion::new(18, 0) {
        f.push("gemini");
    }
    if v >= GitlabVersion::new(18, 3) {
        // "Compatible models" (family General, any OpenAI-compatible model) arrived in 18.3.
        f.push("general");
    }
    f
}

pub(crate) fn family_checked(v: GitlabVersion, family: &str) -> Result<String, InputError> {
    let f = family.trim().to_ascii_lowercase();
    let known = families(v);
    if known.contains(&f.as_str()) {
        return Ok(f);
    }
    Err(refuse(
        "model.family",
        format!(
            "\"{}\" is not a model family GitLab {v} offers; it offers: {}",
            family.trim(),
            known.join(", ")
        ),
        "codestral",
    ))
}

pub(crate) fn name_checked(name: &str) -> Result<String, InputError> {
    let n = name.trim();
    if n.is_empty() || n.chars().any(|c| c.is_control() || c == '`') {
        return Err(refuse(
            "model.name",
            format!("\"{n}\" must be non-empty, without backticks or control characters"),
            "codestral-22b",
        ));
    }
    Ok(n.to_string())
}

pub(crate) fn identifier_checked(id: &str) -> Result<String, InputError> {
    const EX: &str = "custom_openai/codestral-22b";
    let id = id.trim();
    let served = id.strip_prefix("custom_openai/").unwrap_or_default();
    if served.is_empty()
        || !served
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    {
        return Err(refuse(
            "model.identifier",
            format!("\"{id}\" must be custom_openai/<served model name> (the id vLLM lists at /v1/models)"),
            EX,
        ));
    }
    Ok(id.to_string())
}

/// The input as errors may echo it: a user name or password before `@` is masked.
fn shown(input: &str) -> String {
    let s = input.trim();
    let start = s.find("://").map_or(0, |i| i + 3);
    let end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    match s[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &s[start + at..]),
        None => s.to_string(),
    }
}

/// The gateway and model-endpoint URLs: the checks every URL field shares (`gitlab::inputs`), and stricter
/// than the GitLab URL on the scheme, the port and the host name; errors mask any credentials.
fn http_url(field: &str, input: &str, example: &'static str) -> Result<url::Url, InputError> {
    let raw = input.trim();
    let s = &shown(input);
    check_url_text(field, s, example)?;
    if !s.contains("://") {
        return Err(refuse(
            field,
            format!("\"{s}\" has no scheme: start it with http:// or https://"),
            example,
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| match e {
        url::ParseError::InvalidPort => refuse(
            field,
            format!("\"{s}\" has a port that is not a number from 1 to 65535"),
            example,
        ),
        _ => refuse(field, format!("\"{s}\" is not a URL: {e}"), example),
    })?;
    check_url_parts(field, &url, example)?;
    if url.port() == Some(0) {
        return Err(refuse(field, format!("\"{s}\" has port 0"), example));
    }
    let host = url.host_str().unwrap_or_default();
    check_gateway_host(field, host).map_err(|e| refuse(field, e.problem, example))?;
    Ok(url)
}

fn check_port(field: &str, port: &str, example: &'static str) -> Result<(), InputError> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(refuse(
            field,
            format!("port \"{port}\" is not a number from 1 to 65535"),
            example,
        )),
    }
}

/// `scheme://host[:port]` (the url crate drops a scheme's default port).
fn origin(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Private (RFC 1918 / ULA) gateway addresses may be blocked by GitLab's outbound-request filter.
pub(crate) fn is_private_ip(host: &str) -> bool {
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_private(),
        Ok(std::net::IpAddr::V6(v6)) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}
