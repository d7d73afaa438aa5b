//! A diagnostics bundle as data: what it holds (its manifest and README) and the [`Redactor`] every text
//! in it goes through first. The engine collects the parts and writes the zip.
//!
//! Redaction, in order: known secret values (the Hugging Face token, the JWT keys, the values of
//! secret-named variables in the spec) and each of their lines; PEM private-key blocks; credentials
//! inside URLs; `Authorization` values and `Bearer` tokens; Hugging Face tokens by their shape
//! (`hf_` and 20 or more letters and digits); values assigned to secret-named variables (`*_TOKEN`,
//! `*_KEY`, `*_SECRET`, `*PASSWORD*`) in `NAME=value`, `NAME: value`, `NAME = "value"` or JSON form.
//! Each becomes [`MASK`]; nothing else is changed.

use crate::secret::{is_secret_name, Secret};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";
/// What replaces a PEM private-key block.
pub const KEY_MASK: &str = "[REDACTED PRIVATE KEY]";
/// Known values (and lines of them) shorter than this are not searched for: they would mask ordinary text.
pub const MIN_KNOWN_LEN: usize = 6;
/// Letters and digits after `hf_` that make a Hugging Face token.
const HF_MIN: usize = 20;

/// Removes secrets from text. `Debug` shows how many values it knows, never one of them.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a value containing another is masked whole.
    known: Vec<Secret>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor {{ known: {} }}", self.known.len())
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// A secret to mask wherever it appears: the whole value, and each of its lines on its own (a log
    /// may hold part of a key).
    pub fn add_known(&mut self, value: &str) {
        let candidates = std::iter::once(value.trim()).chain(value.lines().map(str::trim));
        for c in candidates {
            if c.len() >= MIN_KNOWN_LEN && !self.known.iter().any(|k| k.expose() == c) {
                self.known.push(Secret::from(c));
            }
        }
        self.known
            .sort_by_key(|k| std::cmp::Reverse(k.expose().len()));
    }

    /// The values of the secret-named variables of an environment (as the core masks them).
    pub fn add_env(&mut self, env: &BTreeMap<String, String>) {
        for (k, v) in env {
            if is_secret_name(k) {
                self.add_known(v);
            }
        }
    }

    /// How many values (and lines of them) are known.
    pub fn known_len(&self) -> usize {
        self.known.len()
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = pem_blocks(text);
        for k in &self.known {
            if out.contains(k.expose()) {
                out = out.replace(k.expose(), MASK);
            }
        }
        let out = url_credentials(&out);
        let out = authorization(&out);
        let out = hf_tokens(&out);
        secret_assignments(&out)
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Case-insensitive ASCII search from `from`.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (from..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END …-----` (or the end of the text when cut).
fn pem_blocks(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(i) = text[pos..].find(BEGIN).map(|i| i + pos) {
        let head_end = text[i + BEGIN.len()..]
            .find("-----")
            .map(|j| j + i + BEGIN.len());
        let Some(head_end) = head_end else { break };
        let label = &text[i + BEGIN.len()..head_end];
        if !label.contains("PRIVATE KEY") || label.contains('\n') {
            out.push_str(&text[pos..head_end]);
            pos = head_end;
            continue;
        }
        out.push_str(&text[pos..i]);
        out.push_str(KEY_MASK);
        let end = text[head_end + 5..]
            .find("-----END ")
            .map(|j| j + head_end + 5)
            .and_then(|e| text[e + 9..].find("-----").map(|k| k + e + 9 + 5));
        match end {
            Some(e) => pos = e,
            None => return out,
        }
    }
    out.push_str(&text[pos..]);
    out
}

/// `scheme://user:password@host` → `scheme://[REDACTED]@host`.
fn url_credentials(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(i) = text[pos..].find("://").map(|i| i + pos) {
        let start = i + 3;
        let end = (start..b.len())
            .find(|&j| {
                b[j].is_ascii_whitespace()
                    || matches!(
                        b[j],
                        b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`'
                    )
            })
            .unwrap_or(b.len());
        out.push_str(&text[pos..start]);
        match text[start..end].rfind('@') {
            Some(at) if at > 0 => {
                out.push_str(MASK);
                out.push_str(&text[start + at..end]);
            }
            _ => out.push_str(&text[start..end]),
        }
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

/// The end of a value starting at `start`: the closing `quote` when it opened with one, else the first
/// byte `stop` accepts.
fn value_end(b: &[u8], start: usize, quote: Option<u8>, stop: impl Fn(u8) -> bool) -> usize {
    match quote {
        Some(q) => {
            let mut j = start;
            while j < b.len() && b[j] != q && b[j] != b'\n' {
                j += if b[j] == b'\\' && j + 1 < b.len() {
                    2
                } else {
                    1
                };
            }
            j.min(b.len())
        }
        None => (start..b.len()).find(|&j| stop(b[j])).unwrap_or(b.len()),
    }
}

/// `Authorization: <anything to the end of the line or the quote>` and `Bearer <token>`.
fn authorization(text: &str) -> String {
    let b = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    while let Some(i) = find_ci(text, "authorization", from) {
        from = i + 1;
        let mut j = i + "authorization".len();
        if j < b.len() && matches!(b[j], b'"' | b'\'') {
            j += 1;
        }
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= b.len() || !matches!(b[j], b':' | b'=') {
            continue;
        }
        j += 1;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        let quote = (j < b.len() && matches!(b[j], b'"' | b'\'')).then(|| b[j]);
        let start = j + usize::from(quote.is_some());
        let end = value_end(b, start, quote, |c| c == b'\n' || c == b'\r');
        if end > start {
            spans.push((start, end));
        }
    }
    from = 0;
    while let Some(i) = find_ci(text, "bearer", from) {
        from = i + 1;
        if i > 0 && is_ident(b[i - 1]) {
            continue;
        }
        let mut j = i + "bearer".len();
        let ws = j;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j == ws {
            continue;
        }
        let end = (j..b.len())
            .find(|&k| !(b[k].is_ascii_alphanumeric() || b"-._~+/=_".contains(&b[k])))
            .unwrap_or(b.len());
        if end > j {
            spans.push((j, end));
        }
    }
    mask_spans(text, spans)
}

/// Replaces each span (overlaps merged) by [`MASK`].
fn mask_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (s, e) in spans {
        if e <= pos {
            continue;
        }
        let s = s.max(pos);
        out.push_str(&text[pos..s]);
        out.push_str(MASK);
        pos = e;
    }
    out.push_str(&text[pos..]);
    out
}

/// `hf_` followed by 20 or more letters and digits.
fn hf_tokens(text: &str) -> String {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("hf_").map(|i| i + from) {
        let end = (i + 3..b.len())
            .find(|&k| !b[k].is_ascii_alphanumeric())
            .unwrap_or(b.len());
        if end - (i + 3) >= HF_MIN {
            spans.push((i, end));
        }
        from = end.max(i + 3);
    }
    mask_spans(text, spans)
}

/// Whether a variable's name in free text says its value is secret: it ends in `TOKEN`, `KEY` or
/// `SECRET`, or names a password. Stricter than [`is_secret_name`] (which also masks `max_tokens`), so
/// that the model server's arguments stay readable.
pub fn is_secret_variable(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["TOKEN", "KEY", "SECRET"].iter().any(|s| n.ends_with(s))
        || ["PASSWORD", "PASSWD", "SECRET"]
            .iter()
            .any(|w| n.contains(w))
}

/// `NAME=value`, `NAME: value`, `NAME = "value"`, `"NAME": "value"` and `"NAME=value"` where NAME is a
/// secret variable: the value is masked (quotes and structure kept).
fn secret_assignments(text: &str) -> String {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !is_ident(b[i]) || (i > 0 && is_ident(b[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        if !is_secret_variable(&text[start..i]) {
            continue;
        }
        let opened = (start > 0 && matches!(b[start - 1], b'"' | b'\'')).then(|| b[start - 1]);
        let mut j = i;
        if opened.is_some() && j < b.len() && Some(b[j]) == opened {
            j += 1;
        }
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= b.len() || !matches!(b[j], b':' | b'=') {
            continue;
        }
        let sep = b[j];
        j += 1;
        if j < b.len() && (b[j] == sep || (sep == b'=' && b[j] == b'>')) {
            continue; // `::`, `==`, `=>`: code, not an assignment
        }
        // `"NAME=value"`: the value runs to the closing quote of the string.
        if sep == b'=' && opened.is_some() && j < b.len() && Some(b[j]) != opened {
            let end = value_end(b, j, opened, |_| false);
            if end > j {
                spans.push((j, end));
            }
            continue;
        }
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= b.len() {
            continue;
        }
        let (quote, vstart) = match b[j] {
            b'"' | b'\'' => (Some(b[j]), j + 1),
            b'\\' if j + 1 < b.len() && b[j + 1] == b'"' => (Some(b'\\'), j + 2),
            b'{' | b'[' | b'\n' | b'\r' => continue,
            _ => (None, j),
        };
        let end = match quote {
            Some(b'\\') => text[vstart..]
                .find("\\\"")
                .map(|k| k + vstart)
                .unwrap_or(b.len()),
            q @ Some(_) => value_end(b, vstart, q, |_| false),
            None => value_end(b, vstart, None, |c| {
                c.is_ascii_whitespace() || b"\"',;}])&\\".contains(&c)
            }),
        };
        let value = &text[vstart..end];
        if end > vstart && !(quote.is_none() && matches!(value, "null" | "true" | "false")) {
            spans.push((vstart, end));
        }
        i = end.max(i);
    }
    mask_spans(text, spans)
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiagFile {
    pub path: String,
    pub bytes: u64,
    /// What it holds, for the README.
    pub what: String,
}

/// A part that could not be collected, and why (the bundle is written anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotCollected {
    pub part: String,
    pub reason: String,
}

/// `manifest.json` of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiagManifest {
    pub generator: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// Whether the Docker engine answered.
    pub engine_reachable: bool,
    pub files: Vec<DiagFile>,
    pub not_collected: Vec<NotCollected>,
}

/// `README.txt` of a bundle: what each file holds, what is missing and why, and what was redacted.
pub fn readme(m: &DiagManifest) -> String {
    let mut s = format!(
        "aigw-installer diagnostics\n==========================\n\nWritten by {} at {}.\n\n\
         Secrets are redacted from every file: the Hugging Face token, the gateway's JWT keys and \
         every line of them, private keys (PEM), credentials inside URLs, Authorization and Bearer \
         values, hf_ tokens, and the values of variables named *_TOKEN, *_KEY, *_SECRET or \
         *PASSWORD*. Each shows as {MASK} (a key block as {KEY_MASK}).\n\n",
        m.generator, m.created
    );
    if !m.engine_reachable {
        s.push_str(
            "The Docker engine could not be reached: the status, the plan, the containers' logs and \
             inspections and the engine's info and version are missing (see below).\n\n",
        );
    }
    s.push_str("Files\n-----\n");
    let width = m
        .files
        .iter()
        .map(|f| f.path.len())
        .chain(std::iter::once("manifest.json".len()))
        .max()
        .unwrap_or(0);
    s.push_str(&format!(
        "{:width$}  the list of files and what could not be collected\n",
        "manifest.json"
    ));
    for f in &m.files {
        s.push_str(&format!("{:width$}  {}\n", f.path, f.what));
    }
    s.push_str("\nNot collected\n-------------\n");
    if m.not_collected.is_empty() {
        s.push_str("nothing: every part was collected\n");
    }
    for n in &m.not_collected {
        s.push_str(&format!("{}: {}\n", n.part, n.reason));
    }
    s
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (UTC; civil-from-days).
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new()
    }

    #[test]
    fn known_values_and_each_of_their_lines() {
        let mut red = r();
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAwhatever1234\nQWERTYUIOPasdfghjkl\nab\n-----END RSA PRIVATE KEY-----\n";
        red.add_known(key);
        red.add_known("tok-abcdef-123");
        red.add_known("abc"); // too short to search for
        let text = "cut log: QWERTYUIOPasdfghjkl\ntoken tok-abcdef-123 used; abc stays";
        let out = red.redact(text);
        assert_eq!(out, "cut log: [REDACTED]\ntoken [REDACTED] used; abc stays");
        assert!(!format!("{red:?}").contains("tok-abcdef"), "{red:?}");
    }

    #[test]
    fn pem_blocks_whole_escaped_or_cut() {
        let text = "a\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\nb";
        assert_eq!(r().redact(text), "a\n[REDACTED PRIVATE KEY]\nb");
        let json =
            r#"{"K":"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n","x":1}"#;
        assert_eq!(
            r().redact(json),
            r#"{"K":"[REDACTED PRIVATE KEY]\n","x":1}"#
        );
        assert_eq!(
            r().redact("x -----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl"),
            "x [REDACTED PRIVATE KEY]"
        );
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(r().redact(cert), cert);
    }

    #[test]
    fn url_credentials() {
        assert_eq!(
            r().redact("clone https://oauth2:glpat-xyz@gitlab.example.com/a.git ok"),
            "clone https://[REDACTED]@gitlab.example.com/a.git ok"
        );
        assert_eq!(
            r().redact(r#""http://u:p@h:8080""#),
            r#""http://[REDACTED]@h:8080""#
        );
        let plain = "see https://gitlab.example.com/help and mailto:x@y";
        assert_eq!(r().redact(plain), plain);
    }

    #[test]
    fn authorization_and_bearer() {
        assert_eq!(
            r().redact("Authorization: Basic dXNlcjpwYXNz\nnext"),
            "Authorization: [REDACTED]\nnext"
        );
        assert_eq!(
            r().redact(r#"{"authorization": "Bearer abc.def"}"#),
            r#"{"authorization": "[REDACTED]"}"#
        );
        assert_eq!(
            r().redact("sent bearer eyJhbGciOi.x-y_z= to it"),
            "sent bearer [REDACTED] to it"
        );
        let plain = "No authorization header presented";
        assert_eq!(r().redact(plain), plain);
    }

    #[test]
    fn hf_tokens_by_shape() {
        assert_eq!(
            r().redact("got x hf_AbCdEfGhIjKlMnOpQrStUvWxYz01 end"),
            "got x [REDACTED] end"
        );
        let plain = "hf_transfer hf_hub_download hf_short123";
        assert_eq!(r().redact(plain), plain);
    }

    #[test]
    fn secret_variables_in_every_form() {
        for (text, want) in [
            ("HF_TOKEN=abc123", "HF_TOKEN=[REDACTED]"),
            ("export API_KEY='s p'", "export API_KEY='[REDACTED]'"),
            ("db_password: hunter2 # x", "db_password: [REDACTED] # x"),
            ("MY_SECRET = \"v\"", "MY_SECRET = \"[REDACTED]\""),
            (
                r#"{"access_token": "v1", "n": 2}"#,
                r#"{"access_token": "[REDACTED]", "n": 2}"#,
            ),
            (
                r#"["X_KEY=a b c","PATH=/bin"]"#,
                r#"["X_KEY=[REDACTED]","PATH=/bin"]"#,
            ),
            (r#"{"api_key": null}"#, r#"{"api_key": null}"#),
            ("?private_token=zz&x=1", "?private_token=[REDACTED]&x=1"),
        ] {
            assert_eq!(r().redact(text), want, "{text}");
        }
        for plain in [
            "max_num_batched_tokens=8192 tokenizer=/m",
            "Secret::new(x)",
            "KEY == 3",
            "HF_TOKEN_FILE=/run/t",
            r#""KEY": {"a": 1}"#,
        ] {
            assert_eq!(r().redact(plain), plain);
        }
    }

    #[test]
    fn spec_env_values_are_known() {
        let mut red = r();
        let env = BTreeMap::from([
            ("GITLAB_API_TOKEN".to_string(), "glpat-abcdef".to_string()),
            ("LOG_LEVEL".to_string(), "debugging".to_string()),
        ]);
        red.add_env(&env);
        assert_eq!(red.known_len(), 1);
        assert_eq!(
            red.redact("sent glpat-abcdef at debugging"),
            "sent [REDACTED] at debugging"
        );
    }

    #[test]
    fn non_ascii_text_survives() {
        let text = "héllo → API_KEY=ünïcode€ done ✓ https://ü:p@höst/";
        let out = r().redact(text);
        assert_eq!(
            out,
            "héllo → API_KEY=[REDACTED] done ✓ https://[REDACTED]@höst/"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_796_601_599), "2026-12-06T23:59:59Z");
    }

    #[test]
    fn readme_names_every_file_and_what_is_missing() {
        let m = DiagManifest {
            generator: "aigw-installer 0.1.0".into(),
            created: utc_timestamp(0),
            engine_reachable: false,
            files: vec![DiagFile {
                path: "system/detect.json".into(),
                bytes: 3,
                what: "the detection report".into(),
            }],
            not_collected: vec![NotCollected {
                part: "status".into(),
                reason: "the Docker engine cannot be reached".into(),
            }],
        };
        let text = readme(&m);
        for s in [
            "system/detect.json  the detection report",
            "manifest.json",
            "status: the Docker engine cannot be reached",
            "could not be reached",
        ] {
            assert!(text.contains(s), "{s}: {text}");
        }
    }
}
