//! What the live checks of the GitLab side mean (issue 13): GitLab's answers judged, and the fixes an admin
//! acts on. The engine makes the requests (`aigw_engine::gitlab_live`); this module only reads their results.

use serde::Serialize;
use std::net::IpAddr;

/// One step of a check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The GitLab host's name resolves.
    Dns,
    /// Its port accepts a connection.
    Tcp,
    /// Its certificate chain leads to a trusted root (https only).
    Tls,
    /// `/oauth/discovery/keys` answers with JSON holding `keys`: what the gateway itself fetches.
    Keys,
    /// The gateway's health at the address GitLab uses.
    Health,
}

/// A step's result: passed, a finding with its fix, or not run (and why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Pass {
        detail: String,
    },
    Finding {
        code: String,
        message: String,
        fix: String,
    },
    NotRun {
        reason: String,
    },
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self::Pass {
            detail: detail.into(),
        }
    }

    pub fn finding(code: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::Finding {
            code: code.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn not_run(reason: impl Into<String>) -> Self {
        Self::NotRun {
            reason: reason.into(),
        }
    }

    pub fn is_finding(&self) -> bool {
        matches!(self, Self::Finding { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepResult {
    pub step: Step,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A check of one URL from one place (this machine, or the gateway's network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub url: String,
    /// `this machine`, or `the gateway's network (<network>, image <image>)`.
    pub from: String,
    pub steps: Vec<StepResult>,
}

impl Check {
    /// Every step that ran passed and at least one ran.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| !s.outcome.is_finding())
            && self
                .steps
                .iter()
                .any(|s| matches!(s.outcome, Outcome::Pass { .. }))
    }
}

/// Where the site CA goes in the gateway's container: the gateway is Python (`requests`, `httpx`), which
/// reads `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` (docs: `doc/administration/gitlab_duo_self_hosted/
/// troubleshooting.md`, CERTIFICATE_VERIFY_FAILED / JWKError).
pub const GATEWAY_CA_PATH: &str = "/etc/ssl/certs/aigw-gitlab-ca-bundle.pem";

/// The fix for a GitLab certificate the gateway would not trust: the exact mount and variables.
pub fn ca_mount_fix(host: &str) -> String {
    format!(
        "the gateway must trust {host}'s CA too: make one PEM bundle of the system roots plus the site CA \
         (cat /etc/ssl/certs/ca-certificates.crt site-ca.pem > bundle.pem), mount it read-only into the \
         gateway container (-v /path/bundle.pem:{GATEWAY_CA_PATH}:ro) and set SSL_CERT_FILE={GATEWAY_CA_PATH} \
         and REQUESTS_CA_BUNDLE={GATEWAY_CA_PATH}; for this check, give the site CA with --ca-file"
    )
}

/// The answer of `<gitlab>/oauth/discovery/keys`: 200 with JSON holding a non-empty `keys` array passes.
pub fn judge_keys(status: u16, body: &[u8]) -> Outcome {
    const FIX: &str = "check that the URL is GitLab's own address (with its relative path, if any) and \
                       that nothing between (a reverse proxy, a login portal) answers instead of GitLab";
    if status != 200 {
        return Outcome::finding(
            "gitlab_keys_status",
            format!("/oauth/discovery/keys answered HTTP {status}, not 200"),
            FIX,
        );
    }
    let keys = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("keys").and_then(|k| k.as_array()).map(Vec::len));
    match keys {
        Some(n) if n > 0 => Outcome::pass(format!("{n} signing key(s) published")),
        Some(_) => Outcome::finding(
            "gitlab_keys_empty",
            "GitLab publishes no signing key at /oauth/discovery/keys",
            "GitLab's OpenID Connect signing key is missing: run `gitlab-rake gitlab:doctor:secrets` on \
             GitLab and check its OIDC set-up",
        ),
        None => Outcome::finding(
            "gitlab_keys_not_json",
            "/oauth/discovery/keys did not answer JSON with \"keys\"",
            FIX,
        ),
    }
}

/// What `/api/v4/version` told us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum VersionAnswer {
    Found {
        version: String,
        revision: Option<String>,
    },
    Unknown {
        reason: String,
        fix: String,
    },
}

/// Judges `/api/v4/version`'s answer; `base` is the GitLab URL (for where the admin looks instead).
pub fn judge_version(base: &str, status: u16, body: &[u8], token_given: bool) -> VersionAnswer {
    let base = base.trim_end_matches('/');
    let elsewhere = format!(
        "the version is on GitLab's Help page ({base}/help, signed in) or Admin area; or give a personal \
         access token with the read_api scope"
    );
    match status {
        200 => {
            let v = serde_json::from_slice::<serde_json::Value>(body).ok();
            let field = |k: &str| {
                v.as_ref()
                    .and_then(|v| v.get(k))
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
            };
            match field("version") {
                Some(version) => VersionAnswer::Found {
                    version,
                    revision: field("revision"),
                },
                None => VersionAnswer::Unknown {
                    reason: "/api/v4/version answered without a version".into(),
                    fix: elsewhere,
                },
            }
        }
        401 | 403 if token_given => VersionAnswer::Unknown {
            reason: format!("GitLab refused the token (HTTP {status})"),
            fix: format!(
                "the token must be valid and have the read_api scope; {}",
                elsewhere.replace(
                    "; or give a personal access token with the read_api scope",
                    ""
                )
            ),
        },
        401 | 403 => VersionAnswer::Unknown {
            reason: format!("GitLab tells its version only to a signed-in user (HTTP {status})"),
            fix: elsewhere,
        },
        _ => VersionAnswer::Unknown {
            reason: format!("/api/v4/version answered HTTP {status}"),
            fix: elsewhere,
        },
    }
}

/// Which machine the gateway runs on, as far as this machine can tell: its addresses to judge a gateway
/// name against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayMachine {
    /// The engine is this machine: its interfaces' addresses.
    ThisMachine(Vec<IpAddr>),
    /// A remote engine: the server's addresses (its endpoint's host, resolved from here), by `name`.
    Server {
        name: String,
        addresses: Vec<IpAddr>,
    },
    /// A remote engine whose address this machine cannot tell (a Unix socket forwarded, a name that does
    /// not resolve here): why.
    Unknown { reason: String },
}

/// Judges where a gateway host resolves (as GitLab would resolve it) against this machine's addresses:
/// a name that leads to another machine means GitLab would call a gateway that is not this one.
pub fn judge_gateway_address(host: &str, resolved: &[IpAddr], local: &[IpAddr]) -> Outcome {
    judge_gateway_address_on(host, resolved, &GatewayMachine::ThisMachine(local.to_vec()))
}

/// Judges where a gateway host resolves against the machine the gateway runs on (this one, or a remote
/// engine's server); when that machine's addresses are unknown, says so rather than guess.
pub fn judge_gateway_address_on(host: &str, resolved: &[IpAddr], on: &GatewayMachine) -> Outcome {
    let (machine, addresses) = match on {
        GatewayMachine::ThisMachine(a) => ("this machine".to_string(), a),
        GatewayMachine::Server { name, addresses } => {
            (format!("the engine's server ({name})"), addresses)
        }
        GatewayMachine::Unknown { reason } => {
            return if resolved.is_empty() {
                unresolved(host, "the engine's server")
            } else {
                Outcome::pass(format!(
                    "{host} resolves to {}; whether that is the engine's server could not be told ({reason})",
                    join_ips(resolved.iter())
                ))
            };
        }
    };
    if resolved.is_empty() {
        return unresolved(host, &machine);
    }
    let foreign: Vec<&IpAddr> = resolved
        .iter()
        .filter(|ip| !addresses.contains(ip))
        .collect();
    if foreign.is_empty() {
        Outcome::pass(format!("{host} resolves to {machine}"))
    } else {
        Outcome::finding(
            "gateway_host_elsewhere",
            format!(
                "{host} resolves to {}, which is not an address of {machine}",
                join_ips(foreign.into_iter())
            ),
            format!("point {host} at {machine}'s address, or give the gateway host GitLab reaches it by"),
        )
    }
}

fn unresolved(host: &str, machine: &str) -> Outcome {
    Outcome::finding(
        "gateway_host_unresolved",
        format!("{host} does not resolve"),
        format!("add {host} to DNS (or /etc/hosts on GitLab's servers) with {machine}'s address"),
    )
}

fn join_ips<'a>(ips: impl Iterator<Item = &'a IpAddr>) -> String {
    ips.map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
}

/// Whether the gateway's steps at GitLab's address found something (what apply's report declares).
pub fn reach_has_finding(steps: &[StepResult]) -> bool {
    steps.iter().any(|s| s.outcome.is_finding())
}

/// A registry's `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses a Bearer challenge (quoted values may hold commas); `None` for another scheme.
pub fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"')?;
                (q[..end].to_string(), &q[end + 1..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        params.push((key, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some(BearerChallenge {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// Whether a gateway image tag exists, or why that could not be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TagAnswer {
    Exists {
        image: String,
        source: String,
    },
    Missing {
        image: String,
        source: String,
        fix: String,
    },
    CouldNotCheck {
        image: String,
        reason: String,
    },
}

/// Judges the registry's answer to `HEAD /v2/<name>/manifests/<tag>`.
pub fn judge_manifest(image: &str, source: &str, status: u16) -> TagAnswer {
    match status {
        200 => TagAnswer::Exists {
            image: image.into(),
            source: source.into(),
        },
        404 => TagAnswer::Missing {
            image: image.into(),
            source: source.into(),
            fix: "the registry has no such tag: check the GitLab version (the tag follows it), or set \
                  gateway.tag in the spec to a tag that exists"
                .into(),
        },
        s => TagAnswer::CouldNotCheck {
            image: image.into(),
            reason: format!("the registry answered HTTP {s}"),
        },
    }
}

/// What a failed pull of the gateway image adds to its error: the tag, where it came from (the spec, or
/// the GitLab version it follows) and how to check it; `None` for another image.
pub fn gateway_pull_hint(
    image: &str,
    gateway_image: &str,
    tag: &str,
    tag_from_spec: bool,
    gitlab_version: &str,
) -> Option<String> {
    if image != format!("{gateway_image}:{tag}") {
        return None;
    }
    let origin = if tag_from_spec {
        "set by gateway.tag in the spec".to_string()
    } else {
        format!("derived from GitLab {gitlab_version}")
    };
    Some(format!(
        "the gateway tag {tag} ({origin}) is not on the engine and the registry did not give it; check it \
         with `check tag --tag {tag}` (the engine, an image bundle, then the registry)"
    ))
}

/// Whether a loaded image bundle holds `image` (its references, from the bundle's manifest).
pub fn judge_bundle(image: &str, bundle: &str, references: &[String]) -> TagAnswer {
    if references.iter().any(|r| r == image) {
        TagAnswer::Exists {
            image: image.into(),
            source: format!("in the image bundle {bundle}"),
        }
    } else {
        TagAnswer::Missing {
            image: image.into(),
            source: format!("the image bundle {bundle}"),
            fix: "the bundle holds other images: make one for this spec with `images save` where the \
                  registry is reachable, or set gateway.tag in the spec to the tag the bundle holds"
                .into(),
        }
    }
}

/// One answer from the places asked in order (the engine's images, a bundle, the registry): the first
/// that has the image wins; else the registry's "missing", else the bundle's; else could not check, with
/// every place's reason.
pub fn decide_tag(image: &str, answers: &[TagAnswer]) -> TagAnswer {
    if let Some(found) = answers
        .iter()
        .find(|a| matches!(a, TagAnswer::Exists { .. }))
    {
        return found.clone();
    }
    let missing: Vec<&TagAnswer> = answers
        .iter()
        .filter(|a| matches!(a, TagAnswer::Missing { .. }))
        .collect();
    // The registry is asked last: its "missing" is the authority; a bundle's is the air-gapped answer.
    if let Some(m) = missing.last() {
        return (*m).clone();
    }
    let reasons: Vec<&str> = answers
        .iter()
        .filter_map(|a| match a {
            TagAnswer::CouldNotCheck { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    TagAnswer::CouldNotCheck {
        image: image.into(),
        reason: if reasons.is_empty() {
            "nowhere to look".into()
        } else {
            reasons.join("; ")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pass_only_with_published_keys() {
        assert!(matches!(
            judge_keys(200, br#"{"keys":[{"kty":"RSA"}]}"#),
            Outcome::Pass { .. }
        ));
        for (status, body, code) in [
            (200, &br#"{"keys":[]}"#[..], "gitlab_keys_empty"),
            (200, b"<html>login</html>", "gitlab_keys_not_json"),
            (404, b"", "gitlab_keys_status"),
        ] {
            match judge_keys(status, body) {
                Outcome::Finding { code: c, .. } => assert_eq!(c, code),
                o => panic!("{status}: {o:?}"),
            }
        }
    }

    #[test]
    fn a_version_comes_only_from_an_answer_and_a_refusal_says_where_to_look() {
        assert_eq!(
            judge_version(
                "https://gl.example",
                200,
                br#"{"version":"18.4.1-ee","revision":"abc"}"#,
                true
            ),
            VersionAnswer::Found {
                version: "18.4.1-ee".into(),
                revision: Some("abc".into())
            }
        );
        let VersionAnswer::Unknown { reason, fix } =
            judge_version("https://gl.example/", 401, b"", false)
        else {
            panic!()
        };
        assert!(reason.contains("401"), "{reason}");
        assert!(
            fix.contains("https://gl.example/help") && fix.contains("read_api"),
            "{fix}"
        );
        let VersionAnswer::Unknown { reason, .. } =
            judge_version("https://gl.example", 401, b"", true)
        else {
            panic!()
        };
        assert!(reason.contains("refused the token"), "{reason}");
    }

    #[test]
    fn a_gateway_name_leading_elsewhere_is_a_finding() {
        let here: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap()];
        assert!(matches!(
            judge_gateway_address("aigw", &here, &here),
            Outcome::Pass { .. }
        ));
        let there = vec!["10.0.0.9".parse().unwrap()];
        let o = judge_gateway_address("aigw", &there, &here);
        assert!(o.is_finding());
        assert!(judge_gateway_address("aigw", &[], &here).is_finding());
    }

    #[test]
    fn a_remote_gateway_name_is_judged_against_the_server_or_said_unknown() {
        let server = GatewayMachine::Server {
            name: "gpu01.example".into(),
            addresses: vec!["10.0.0.7".parse().unwrap()],
        };
        let at_server: Vec<IpAddr> = vec!["10.0.0.7".parse().unwrap()];
        match judge_gateway_address_on("aigw", &at_server, &server) {
            Outcome::Pass { detail } => assert!(detail.contains("gpu01.example"), "{detail}"),
            o => panic!("{o:?}"),
        }
        // The workstation's own address is not the server's.
        let here: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap()];
        match judge_gateway_address_on("aigw", &here, &server) {
            Outcome::Finding { code, message, .. } => {
                assert_eq!(code, "gateway_host_elsewhere");
                assert!(message.contains("10.0.0.5"), "{message}");
            }
            o => panic!("{o:?}"),
        }
        let unknown = GatewayMachine::Unknown {
            reason: "no address".into(),
        };
        match judge_gateway_address_on("aigw", &here, &unknown) {
            Outcome::Pass { detail } => assert!(detail.contains("could not be told"), "{detail}"),
            o => panic!("{o:?}"),
        }
        assert!(judge_gateway_address_on("aigw", &[], &unknown).is_finding());
    }

    #[test]
    fn bearer_challenges_parse_with_quoted_commas() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="https://gitlab.com/jwt/auth",service="container_registry",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://gitlab.com/jwt/auth");
        assert_eq!(c.service.as_deref(), Some("container_registry"));
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
        assert_eq!(parse_bearer_challenge("Basic realm=\"x\""), None);
        assert_eq!(parse_bearer_challenge("Bearer service=\"x\""), None);
    }

    #[test]
    fn a_tag_is_answered_by_the_first_place_that_has_it_else_said_plainly() {
        let img = "reg/gw:self-hosted-v18.4.1-ee";
        let not_here = TagAnswer::CouldNotCheck {
            image: img.into(),
            reason: "not on the engine".into(),
        };
        let bundle_has = judge_bundle(img, "b.tar", &[img.to_string()]);
        let bundle_lacks = judge_bundle(img, "b.tar", &["reg/gw:other".to_string()]);
        let registry_down = TagAnswer::CouldNotCheck {
            image: img.into(),
            reason: "registry.gitlab.com: DNS failed".into(),
        };
        match decide_tag(img, &[not_here.clone(), bundle_has, registry_down.clone()]) {
            TagAnswer::Exists { source, .. } => assert!(source.contains("b.tar"), "{source}"),
            a => panic!("{a:?}"),
        }
        match decide_tag(
            img,
            &[not_here.clone(), bundle_lacks, registry_down.clone()],
        ) {
            TagAnswer::Missing { source, .. } => assert!(source.contains("bundle"), "{source}"),
            a => panic!("{a:?}"),
        }
        match decide_tag(img, &[not_here, registry_down]) {
            TagAnswer::CouldNotCheck { reason, .. } => {
                assert!(
                    reason.contains("not on the engine") && reason.contains("DNS"),
                    "{reason}"
                )
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn a_failed_gateway_pull_names_the_tag_and_the_version_it_follows() {
        let h = gateway_pull_hint(
            "reg/gw:self-hosted-v18.4.1-ee",
            "reg/gw",
            "self-hosted-v18.4.1-ee",
            false,
            "18.4.1",
        )
        .unwrap();
        assert!(
            h.contains("self-hosted-v18.4.1-ee") && h.contains("derived from GitLab 18.4.1"),
            "{h}"
        );
        assert!(gateway_pull_hint("reg/model:x", "reg/gw", "x", false, "18.4.1").is_none());
    }

    #[test]
    fn the_ca_fix_names_the_mount_and_both_variables() {
        let f = ca_mount_fix("gitlab.example");
        for want in [
            GATEWAY_CA_PATH,
            ":ro",
            "SSL_CERT_FILE=",
            "REQUESTS_CA_BUNDLE=",
        ] {
            assert!(f.contains(want), "{want}: {f}");
        }
    }
}
