//! A Hugging Face Hub stand-in on [`crate::httpd`]: the model-info API
//! (`/api/models/{repo}/revision/{rev}?blobs=true`), the recursive tree listing
//! (`/api/models/{repo}/tree/{rev}`, what huggingface_hub's `snapshot_download` reads), `/{repo}/resolve/{rev}/{file}` answered as the Hub
//! answers it (huggingface_hub's `file_download.py` reads these headers: `X-Repo-Commit`, `ETag`, and for
//! LFS files a 302 to the CDN carrying `X-Linked-Etag` and `X-Linked-Size`), and a CDN-like second server
//! (another port, so a client must drop `Authorization` on the redirect) serving the LFS content with
//! `Range`. Gated repositories answer 401 without a known token and 403 with a token lacking access.
//! Knobs: a per-response bandwidth cap, latency, one disconnect mid-transfer, one corrupt byte. Every
//! content response is recorded with the bytes it actually sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use sha2::{Digest, Sha256};

use crate::httpd::{handler, respond, Body, Server};

/// One file of the repository.
#[derive(Clone, Debug)]
pub struct HubFile {
    pub name: String,
    pub content: Bytes,
    /// Stored in LFS: listed with its SHA-256 and served from the CDN after a 302.
    pub lfs: bool,
    sha256: String,
}

impl HubFile {
    pub fn new(name: &str, content: Bytes, lfs: bool) -> Self {
        let sha256 = hex(&Sha256::digest(&content));
        Self {
            name: name.into(),
            content,
            lfs,
            sha256,
        }
    }
    /// Computed once: the stand-in looks files up by it on every request.
    pub fn sha256(&self) -> String {
        self.sha256.clone()
    }
    /// The git blob id, as the Hub's `blobId` gives it: SHA-1 of `"blob <len>\0"` and the content
    /// (the client checks files kept in git against it).
    pub fn blob_id(&self) -> String {
        aigw_core::weights::gitblob::git_blob_id(&self.content)
    }
    /// The name huggingface_hub gives the blob: the LFS SHA-256, else the git blob id.
    pub fn etag(&self) -> String {
        if self.lfs {
            self.sha256()
        } else {
            self.blob_id()
        }
    }
}

/// Deterministic, incompressible bytes (xorshift), so a test's repository is the same on every run.
pub fn pseudo_random(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(2).wrapping_add(1);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

/// A repository at one commit.
#[derive(Clone, Debug)]
pub struct HubRepo {
    pub id: String,
    pub commit: String,
    pub files: Vec<HubFile>,
    /// `Some(tokens)`: gated; only these tokens have accepted its licence.
    pub gated: Option<Vec<String>>,
}

impl HubRepo {
    /// A sharded safetensors checkpoint (the Hf format): `shards` files of `shard_size` bytes, the index,
    /// config and tokenizer files.
    pub fn sharded(id: &str, shards: usize, shard_size: usize) -> Self {
        let mut files = vec![
            small(
                "config.json",
                br#"{"architectures":["MistralForCausalLM"]}"#,
            ),
            small("generation_config.json", br#"{"bos_token_id":1}"#),
            small("tokenizer_config.json", br#"{"model_max_length":32768}"#),
            small("README.md", b"# stand-in model\n"),
            HubFile::new("tokenizer.json", pseudo_random(3000, 7), true),
        ];
        let mut map = serde_json::Map::new();
        for i in 1..=shards {
            let name = format!("model-{i:05}-of-{shards:05}.safetensors");
            map.insert("w".repeat(i), serde_json::Value::String(name.clone()));
            let content = pseudo_random(shard_size, 1000 + i as u64);
            files.push(HubFile::new(&name, content, true));
        }
        let index = serde_json::json!({"metadata": {}, "weight_map": map}).to_string();
        files.push(small("model.safetensors.index.json", index.as_bytes()));
        // A file vLLM does not read: the fetch must leave it.
        files.push(HubFile::new(
            "original/consolidated.00.pth",
            pseudo_random(4096, 99),
            true,
        ));
        Self {
            id: id.into(),
            commit: hex(&Sha256::digest(id.as_bytes()))[..40].to_string(),
            files,
            gated: None,
        }
    }

    fn file(&self, name: &str) -> Option<&HubFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The API's JSON, as the Hub writes it with `?blobs=true`.
    pub fn info_json(&self) -> String {
        let siblings: Vec<_> = self
            .files
            .iter()
            .map(|f| {
                let mut s = serde_json::json!({
                    "rfilename": f.name, "blobId": f.blob_id(), "size": f.content.len()
                });
                if f.lfs {
                    s["lfs"] = serde_json::json!({
                        "sha256": f.sha256(), "size": f.content.len(), "pointerSize": 134
                    });
                }
                s
            })
            .collect();
        let gated = match &self.gated {
            Some(_) => serde_json::json!("manual"),
            None => serde_json::json!(false),
        };
        serde_json::json!({
            "_id": "0000", "id": self.id, "sha": self.commit, "gated": gated, "private": false,
            "siblings": siblings
        })
        .to_string()
    }

    /// `/api/models/{repo}/tree/{rev}?recursive=true` as the Hub writes it (huggingface_hub ≥ 1.0's
    /// `snapshot_download` lists files through it): folders, then each file with its blob id and, for LFS
    /// files, `lfs.oid` (the SHA-256). One page: no `Link` header.
    pub fn tree_json(&self) -> String {
        let mut folders: Vec<&str> = self
            .files
            .iter()
            .filter_map(|f| f.name.rsplit_once('/').map(|(d, _)| d))
            .collect();
        folders.sort_unstable();
        folders.dedup();
        let mut entries: Vec<serde_json::Value> = folders
            .iter()
            .map(|d| serde_json::json!({"type": "directory", "oid": "0".repeat(40), "path": d}))
            .collect();
        entries.extend(self.files.iter().map(|f| {
            let mut e = serde_json::json!({
                "type": "file", "oid": f.blob_id(), "size": f.content.len(), "path": f.name
            });
            if f.lfs {
                e["lfs"] = serde_json::json!({
                    "oid": f.sha256(), "size": f.content.len(), "pointerSize": 134
                });
            }
            e
        }));
        serde_json::Value::Array(entries).to_string()
    }
}

fn small(name: &str, content: &[u8]) -> HubFile {
    HubFile::new(name, Bytes::copy_from_slice(content), false)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the stand-in does to its answers.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    /// Bytes per second per response (≈ per connection: a client asks one thing at a time on one).
    pub bytes_per_sec: Option<u64>,
    /// Before every answer.
    pub latency: Duration,
    /// The next content response longer than this ends the connection after this many bytes (once).
    pub disconnect_after: Option<u64>,
    /// The first time this file's middle byte is served it is flipped (once).
    pub corrupt: Option<String>,
    /// Flip it every time, not once (a mirror that alters the file).
    pub corrupt_every_time: bool,
}

/// One content response: which file, what was asked, and what was actually sent.
#[derive(Clone, Debug)]
pub struct Served {
    pub server: &'static str,
    pub file: String,
    pub start: u64,
    pub end: u64,
    pub sent: Arc<AtomicU64>,
}

struct State {
    repos: Vec<HubRepo>,
    tokens: Vec<String>,
    knobs: Mutex<Knobs>,
    corrupted: AtomicBool,
    disconnected: AtomicBool,
    served: Mutex<Vec<Served>>,
    /// Every request path the Hub (not the CDN) was asked, in order.
    asked: Mutex<Vec<String>>,
    cdn_base: Mutex<String>,
}

/// The running stand-in: the Hub and its CDN.
pub struct Hub {
    pub hub: Server,
    pub cdn: Server,
    state: Arc<State>,
}

impl Hub {
    /// Starts both servers (TLS when `tls` is given: both then answer as `localhost`). `tokens` are the
    /// tokens the Hub knows at all.
    pub async fn start(
        repos: Vec<HubRepo>,
        tokens: Vec<String>,
        knobs: Knobs,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Hub {
        let state = Arc::new(State {
            repos,
            tokens,
            knobs: Mutex::new(knobs),
            corrupted: AtomicBool::new(false),
            disconnected: AtomicBool::new(false),
            served: Mutex::new(Vec::new()),
            asked: Mutex::new(Vec::new()),
            cdn_base: Mutex::new(String::new()),
        });
        let s = state.clone();
        let cdn = Server::start(
            handler(move |req| {
                let s = s.clone();
                async move { cdn_answer(&s, req).await }
            }),
            tls.clone(),
        )
        .await;
        *state.cdn_base.lock().unwrap() = cdn.base.clone();
        let s = state.clone();
        let hub = Server::start(
            handler(move |req| {
                let s = s.clone();
                async move { hub_answer(&s, req).await }
            }),
            tls,
        )
        .await;
        Hub { hub, cdn, state }
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        *self.state.knobs.lock().unwrap() = knobs;
        self.state.corrupted.store(false, Ordering::SeqCst);
        self.state.disconnected.store(false, Ordering::SeqCst);
    }

    /// Every content response so far.
    pub fn served(&self) -> Vec<Served> {
        self.state.served.lock().unwrap().clone()
    }

    /// Every path the Hub was asked so far (API and resolve), in order: what proves a client asked
    /// nothing.
    pub fn asked(&self) -> Vec<String> {
        self.state.asked.lock().unwrap().clone()
    }

    /// Content bytes actually sent so far, per file.
    pub fn sent_per_file(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for s in self.served() {
            *m.entry(s.file.clone()).or_insert(0) += s.sent.load(Ordering::SeqCst);
        }
        m
    }
}

fn bearer(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
}

fn with_header(mut r: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

/// `None`: allowed; `Some(response)`: the refusal, as the Hub words it.
fn refuse(s: &State, repo: &HubRepo, token: Option<&str>) -> Option<Response<Body>> {
    if let Some(t) = token {
        if !s.tokens.iter().any(|k| k == t) {
            let r = respond(
                401,
                r#"{"error":"Invalid credentials in Authorization header"}"#,
            );
            return Some(with_header(r, "x-error-code", "InvalidCredentials"));
        }
    }
    let allowed = repo.gated.as_ref()?;
    match token {
        None => {
            let body = format!(
                r#"{{"error":"Access to model {} is restricted. You must have access to it and be authenticated to access it. Please log in."}}"#,
                repo.id
            );
            Some(with_header(respond(401, body), "x-error-code", "GatedRepo"))
        }
        Some(t) if !allowed.iter().any(|a| a == t) => {
            let body = format!(
                r#"{{"error":"Access to model {} is restricted and you are not in the authorized list. Visit https://huggingface.co/{} to ask for access."}}"#,
                repo.id, repo.id
            );
            Some(with_header(respond(403, body), "x-error-code", "GatedRepo"))
        }
        Some(_) => None,
    }
}

async fn hub_answer(s: &State, req: Request<Incoming>) -> Response<Body> {
    let latency = s.knobs.lock().unwrap().latency;
    tokio::time::sleep(latency).await;
    let path = req.uri().path().to_string();
    s.asked.lock().unwrap().push(path.clone());
    let token = bearer(&req);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // /api/models/{owner}/{name}/revision/{rev}
    if parts.len() == 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision" {
        let id = format!("{}/{}", parts[2], parts[3]);
        let Some(repo) = s.repos.iter().find(|r| r.id == id) else {
            return respond(404, r#"{"error":"Repository not found"}"#);
        };
        if let Some(t) = token.as_deref() {
            if !s.tokens.iter().any(|k| k == t) {
                return respond(
                    401,
                    r#"{"error":"Invalid credentials in Authorization header"}"#,
                );
            }
        }
        if parts[5] != "main" && parts[5] != repo.commit {
            return respond(404, r#"{"error":"Invalid rev id"}"#);
        }
        return respond(200, repo.info_json());
    }
    // /api/models/{owner}/{name}/tree/{rev} (recursive; the only listing the stand-in has)
    if parts.len() == 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "tree" {
        let id = format!("{}/{}", parts[2], parts[3]);
        let Some(repo) = s.repos.iter().find(|r| r.id == id) else {
            return respond(404, r#"{"error":"Repository not found"}"#);
        };
        if let Some(r) = refuse(s, repo, token.as_deref()) {
            return r;
        }
        if parts[5] != "main" && parts[5] != repo.commit {
            return respond(404, r#"{"error":"Invalid rev id"}"#);
        }
        return respond(200, repo.tree_json());
    }
    // /{owner}/{name}/resolve/{rev}/{file...}
    if parts.len() >= 5 && parts[2] == "resolve" {
        let id = format!("{}/{}", parts[0], parts[1]);
        let Some(repo) = s.repos.iter().find(|r| r.id == id) else {
            return respond(404, "Repository not found");
        };
        if let Some(r) = refuse(s, repo, token.as_deref()) {
            return r;
        }
        if parts[3] != "main" && parts[3] != repo.commit {
            return respond(404, "Invalid rev id");
        }
        let name = parts[4..].join("/");
        let Some(file) = repo.file(&name) else {
            return respond(404, "Entry not found");
        };
        let r = if file.lfs {
            let location = format!("{}/cdn/{}", s.cdn_base.lock().unwrap(), file.sha256());
            let r = with_header(respond(302, ""), "location", &location);
            let r = with_header(r, "x-linked-etag", &format!("\"{}\"", file.sha256()));
            with_header(r, "x-linked-size", &file.content.len().to_string())
        } else {
            content(s, "hub", &req, file)
        };
        let r = with_header(r, "x-repo-commit", &repo.commit);
        return with_header(r, "etag", &format!("\"{}\"", file.etag()));
    }
    respond(404, "not found")
}

async fn cdn_answer(s: &State, req: Request<Incoming>) -> Response<Body> {
    let latency = s.knobs.lock().unwrap().latency;
    tokio::time::sleep(latency).await;
    let path = req.uri().path().to_string();
    let Some(sha) = path.strip_prefix("/cdn/") else {
        return respond(404, "not found");
    };
    let file = s
        .repos
        .iter()
        .flat_map(|r| r.files.iter())
        .find(|f| f.lfs && f.sha256 == sha)
        .cloned();
    match file {
        Some(f) => with_header(content(s, "cdn", &req, &f), "etag", &format!("\"{sha}\"")),
        None => respond(404, "not found"),
    }
}

/// `bytes=a-b` or `bytes=a-` against `len`; `None` for no header or one we do not serve.
fn parse_range(req: &Request<Incoming>, len: u64) -> Option<(u64, u64)> {
    let v = req.headers().get("range")?.to_str().ok()?;
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        len
    } else {
        b.parse::<u64>().ok()? + 1
    };
    (start < end && end <= len).then_some((start, end))
}

/// The file's bytes (all, or the range asked for) as a streamed body, with the knobs applied.
fn content(
    s: &State,
    server: &'static str,
    req: &Request<Incoming>,
    f: &HubFile,
) -> Response<Body> {
    let len = f.content.len() as u64;
    let range = parse_range(req, len);
    if req.headers().contains_key("range") && range.is_none() {
        return with_header(respond(416, ""), "content-range", &format!("bytes */{len}"));
    }
    let (start, end) = range.unwrap_or((0, len));
    let knobs = s.knobs.lock().unwrap().clone();
    let mut data = f.content.slice(start as usize..end as usize);
    let mid = len / 2;
    if knobs.corrupt.as_deref() == Some(f.name.as_str())
        && (start..end).contains(&mid)
        && (knobs.corrupt_every_time || !s.corrupted.swap(true, Ordering::SeqCst))
    {
        // Copied only here: a 1 GiB shard is otherwise served from the shared bytes.
        let mut v = data.to_vec();
        v[(mid - start) as usize] ^= 0xff;
        data = Bytes::from(v);
    }
    let cut = knobs
        .disconnect_after
        .filter(|n| (end - start) > *n && !s.disconnected.swap(true, Ordering::SeqCst));
    let sent = Arc::new(AtomicU64::new(0));
    s.served.lock().unwrap().push(Served {
        server,
        file: f.name.clone(),
        start,
        end,
        sent: sent.clone(),
    });
    let body = stream(data, knobs.bytes_per_sec, cut, sent);
    let mut r = Response::new(body);
    let status = if range.is_some() { 206 } else { 200 };
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    let r = with_header(r, "content-length", &(end - start).to_string());
    let r = with_header(r, "accept-ranges", "bytes");
    if range.is_some() {
        with_header(
            r,
            "content-range",
            &format!("bytes {start}-{}/{len}", end - 1),
        )
    } else {
        r
    }
}

/// 64 KiB frames, paced to `rate`; after `cut` bytes the body ends short and the connection closes.
fn stream(data: Bytes, rate: Option<u64>, cut: Option<u64>, sent: Arc<AtomicU64>) -> Body {
    const FRAME: usize = 64 << 10;
    let frames = futures_util::stream::unfold(0usize, move |at| {
        let (data, sent) = (data.clone(), sent.clone());
        async move {
            if at >= data.len() {
                return None;
            }
            if cut.is_some_and(|c| at as u64 >= c) {
                // Short of its Content-Length: the server closes the connection after what was sent.
                return None;
            }
            let mut n = FRAME.min(data.len() - at);
            if let Some(c) = cut {
                n = n.min((c as usize).saturating_sub(at)).max(1);
            }
            if let Some(r) = rate {
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / r as f64)).await;
            }
            sent.fetch_add(n as u64, Ordering::SeqCst);
            Some((Ok(Frame::data(data.slice(at..at + n))), at + n))
        }
    });
    StreamBody::new(frames).boxed()
}
