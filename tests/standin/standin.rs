//! TEST FIXTURE — not part of the product. A static stand-in for the two real images, so the provisioning
//! tests can run the real Docker engine offline: it speaks the HTTP surface the installer uses.
//!
//!   standin model [vLLM args]   vLLM's OpenAI server: /health, /v1/models, /v1/completions, /v1/chat/completions,
//!                               and /stand-in/parallel (the tensor- and data-parallel sizes it was given)
//!   standin check-args [args]   parses vLLM arguments as the model server does, prints what it understood
//!                               (JSON) and exits 0, or exits 2 with vLLM's "unrecognized arguments" error
//!   standin gateway             the AI Gateway: /monitoring/healthz, and /stand-in/env (the AIGW_* it saw)
//!   python3 -c "<code>"         the health checks' `python3 -c "…urlopen('URL'…"`: GETs the URL, exit 0 on 200;
//!                               and the installer's GitLab probe (a script that prints `json.dumps`): fetches
//!                               its first http(s):// literal and prints the script's JSON line (`probe.rs`),
//!                               HTTPS through `/usr/bin/standin-tls` (rustls, `SSL_CERT_FILE` only)
//!
//!   df -P -B1 PATH              GNU df's POSIX output for PATH (statvfs), the free-space probe of a remote install;
//!                               the available bytes from env STANDIN_DF_AVAIL or a file of that name in PATH
//!
//! Knobs (environment): STANDIN_START_DELAY_MS (slow to load), STANDIN_NEVER_HEALTHY=1 (health answers 503),
//! STANDIN_CRASH_AFTER_MS (exits 1 after that long), STANDIN_CRASH_AFTER_HEALTHY_MS (the model server exits 3
//! that long after its first healthy /health answer, and once restarted, that long after start: a restart
//! loop; it remembers the crash in a file of its container, /standin-crashed). The model server also reads a file named
//! STANDIN_START_DELAY_MS in its model directory (`--model`): the wizard test cannot set environment.
//! A file STANDIN_COMPLETION_DELAY_MS there, read at each request, holds completions that long (slow
//! answers while it exists); the server then logs each completion request as it arrives.
//! A file STANDIN_EXIT_AT_START there makes the model server refuse to start, as vLLM does with a bad
//! argument: its first line is the exit code, the rest a message it prints to stderr before exiting.
//! A file STANDIN_SAY there is printed to stdout as the server starts (the diagnostics test plants
//! secrets in the logs with it).
//! Built with `rustc -C target-feature=+crt-static` so the image can be `FROM scratch`; std only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod probe;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    if argv0 == "df" {
        std::process::exit(df(&args[1..]));
    }
    if argv0.starts_with("python") {
        let code = args.iter().skip_while(|a| *a != "-c").nth(1).cloned().unwrap_or_default();
        if code.contains("json.dumps") {
            std::process::exit(gitlab_probe(&code));
        }
        std::process::exit(healthcheck(&args[1..]));
    }
    match args.get(1).map(String::as_str) {
        Some("model") => match ModelArgs::parse(&args[2..]) {
            Ok(mut m) => {
                if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1") && !m.model.starts_with('/') {
                    match resolve_offline(&m.model, &m.revision) {
                        Ok(snapshot) => m.dir = snapshot,
                        Err(missing) => {
                            eprintln!("OSError: We couldn't connect to the Hub (HF_HUB_OFFLINE=1) and couldn't find {} at revision {} in the cached files: {missing}", m.model, m.revision);
                            std::process::exit(1);
                        }
                    }
                }
                serve(Role::Model(m))
            }
            Err(e) => {
                eprintln!("usage: vllm serve [options]\nvllm: error: {e}");
                std::process::exit(2);
            }
        },
        Some("check-args") => match ModelArgs::parse(&args[2..]) {
            Ok(m) => println!(
                "{{\"model\":\"{}\",\"served\":\"{}\",\"tensor_parallel_size\":{},\"data_parallel_size\":{},\"max_model_len\":{}}}",
                m.model, m.served, m.tp, m.dp, m.max_model_len
            ),
            Err(e) => {
                eprintln!("usage: vllm serve [options]\nvllm: error: {e}");
                std::process::exit(2);
            }
        },
        Some("gateway") => serve(Role::Gateway),
        Some("get") => std::process::exit(match args.get(2) { Some(u) => get_ok(u), None => 2 }),
        _ => {
            eprintln!("usage: standin model [vllm args] | standin gateway | standin get URL");
            std::process::exit(2);
        }
    }
}

/// glibc's `struct statvfs` on 64-bit Linux (padded beyond its spare words).
#[repr(C)]
#[derive(Default)]
struct StatVfs {
    f_bsize: u64,
    f_frsize: u64,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_favail: u64,
    f_fsid: u64,
    f_flag: u64,
    f_namemax: u64,
    spare: [u64; 8],
}

extern "C" {
    fn statvfs(path: *const std::os::raw::c_char, buf: *mut StatVfs) -> i32;
}

/// `df -P -B1 PATH`, as GNU prints it: the real figures of PATH's file system, unless the env
/// STANDIN_DF_AVAIL or a file of that name in PATH gives the available bytes (a server short of space).
fn df(args: &[String]) -> i32 {
    let Some(path) = args.iter().rev().find(|a| !a.starts_with('-')) else {
        eprintln!("df: no path");
        return 1;
    };
    let Ok(c) = std::ffi::CString::new(path.as_str()) else { return 1 };
    let mut st = StatVfs::default();
    // SAFETY: a NUL-terminated path and a buffer larger than glibc's struct.
    if unsafe { statvfs(c.as_ptr(), &mut st) } != 0 {
        eprintln!("df: {path}: {}", std::io::Error::last_os_error());
        return 1;
    }
    let unit = st.f_frsize.max(1);
    let (size, free) = (st.f_blocks * unit, st.f_bfree * unit);
    let knob = std::env::var("STANDIN_DF_AVAIL")
        .ok()
        .or_else(|| std::fs::read_to_string(format!("{path}/STANDIN_DF_AVAIL")).ok());
    let avail = knob.and_then(|k| k.trim().parse::<u64>().ok()).unwrap_or(st.f_bavail * unit);
    let used = size.saturating_sub(free);
    let pct = if used + avail == 0 { 0 } else { (used * 100).div_ceil(used + avail) };
    println!("Filesystem         1-blocks        Used   Available Capacity Mounted on");
    println!("standin {size:>20} {used:>11} {avail:>11} {pct:>8}% {path}");
    0
}

/// `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5)"`
fn healthcheck(args: &[String]) -> i32 {
    let code = args.iter().skip_while(|a| *a != "-c").nth(1).cloned().unwrap_or_default();
    match code.find("http://") {
        Some(i) => {
            let url: String = code[i..].chars().take_while(|c| !matches!(c, '\'' | '"' | ' ' | ')')).collect();
            get_ok(&url)
        }
        None => 2,
    }
}

/// The installer's GitLab probe: plain HTTP here, HTTPS by the static rustls helper beside this binary.
fn gitlab_probe(code: &str) -> i32 {
    let Some(url) = probe::url_in(code) else {
        return probe::report(Err("ValueError: no URL in the script".into()));
    };
    let target = match probe::Target::parse(&url) {
        Ok(t) => t,
        Err(e) => return probe::report(Err(e)),
    };
    if target.tls {
        return match std::process::Command::new("/usr/bin/standin-tls").arg(&url).status() {
            Ok(s) => s.code().unwrap_or(1),
            Err(e) => probe::report(Err(format!("OSError: standin-tls: {e}"))),
        };
    }
    probe::report(probe::connect(&target).and_then(|mut s| probe::get(&mut s, &target)))
}

fn get_ok(url: &str) -> i32 {
    let rest = url.trim_start_matches("http://");
    let (hostport, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let Ok(mut s) = TcpStream::connect(hostport) else { return 1 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    if line.split_whitespace().nth(1) == Some("200") { 0 } else { 1 }
}

struct ModelArgs {
    port: u16,
    served: String,
    model: String,
    /// `--revision` (vLLM's default: main).
    revision: String,
    /// Where the knob files are read: `--model` itself, or the snapshot an offline repo id resolved to.
    dir: String,
    tp: u32,
    dp: u32,
    max_model_len: u32,
}

/// A repo id in the hub cache exactly as huggingface_hub resolves it offline: `$HF_HUB_CACHE` (else
/// `$HF_HOME/hub`, else `/root/.cache/huggingface/hub`) / `models--org--name`; a revision that is a commit
/// names the snapshot, another one is read from `refs/<revision>`; the snapshot must hold `config.json` or
/// `params.json` as a file (symlinks followed). Returns the snapshot directory, or what is missing.
fn resolve_offline(model: &str, revision: &str) -> Result<String, String> {
    let hub = std::env::var("HF_HUB_CACHE").unwrap_or_else(|_| {
        format!("{}/hub", std::env::var("HF_HOME").unwrap_or_else(|_| "/root/.cache/huggingface".into()))
    });
    let repo = format!("{hub}/models--{}", model.replace('/', "--"));
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_string()
    } else {
        let refs = format!("{repo}/refs/{revision}");
        std::fs::read_to_string(&refs).map_err(|_| format!("{refs} is missing"))?
    };
    let snapshot = format!("{repo}/snapshots/{commit}");
    if !std::path::Path::new(&snapshot).is_dir() {
        return Err(format!("{snapshot} is missing"));
    }
    let has = |f: &str| std::fs::metadata(format!("{snapshot}/{f}")).is_ok_and(|m| m.is_file());
    if !has("config.json") && !has("params.json") {
        return Err(format!("{snapshot}/config.json is missing (or a broken link)"));
    }
    Ok(snapshot)
}

/// The vLLM options the installer emits (the recommender's arguments and the spec's own), with whether
/// each takes a value. vLLM's parser refuses anything else, and so does this one.
const KNOWN: &[(&str, bool)] = &[
    ("--model", true),
    ("--revision", true),
    ("--served-model-name", true),
    ("--port", true),
    ("--host", true),
    ("--tensor-parallel-size", true),
    ("--data-parallel-size", true),
    ("--pipeline-parallel-size", true),
    ("--max-model-len", true),
    ("--gpu-memory-utilization", true),
    ("--dtype", true),
    ("--quantization", true),
    ("--kv-cache-dtype", true),
    ("--tokenizer-mode", true),
    ("--config-format", true),
    ("--load-format", true),
    ("--max-num-seqs", true),
    ("--enforce-eager", false),
    ("--disable-log-requests", false),
];

impl ModelArgs {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut m = ModelArgs { port: 8000, served: String::new(), model: "model".into(), revision: "main".into(), dir: String::new(), tp: 1, dp: 1, max_model_len: 0 };
        let mut it = args.iter();
        let positive = |k: &str, v: &str| -> Result<u32, String> {
            match v.parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("argument {k}: invalid positive integer value: '{v}'")),
            }
        };
        while let Some(a) = it.next() {
            let (key, inline) = match a.split_once('=') { Some((k, v)) => (k, Some(v.to_string())), None => (a.as_str(), None) };
            let key = key.replace('_', "-");
            let Some(&(_, takes_value)) = KNOWN.iter().find(|(k, _)| *k == key) else {
                return Err(format!("unrecognized arguments: {a}"));
            };
            if !takes_value {
                continue;
            }
            let v = match inline.or_else(|| it.next().cloned()) {
                Some(v) => v,
                None => return Err(format!("argument {key}: expected one argument")),
            };
            match key.as_str() {
                "--port" => m.port = v.parse().map_err(|_| format!("argument --port: invalid int value: '{v}'"))?,
                "--served-model-name" => m.served = v,
                "--model" => m.model = v,
                "--revision" => m.revision = v,
                "--tensor-parallel-size" => m.tp = positive(&key, &v)?,
                "--data-parallel-size" => m.dp = positive(&key, &v)?,
                "--max-model-len" => m.max_model_len = positive(&key, &v)?,
                "--gpu-memory-utilization" => match v.parse::<f64>() {
                    Ok(g) if g > 0.0 && g <= 1.0 => {}
                    _ => return Err(format!("argument --gpu-memory-utilization: must be in (0, 1]: '{v}'")),
                },
                _ => {}
            }
        }
        if m.served.is_empty() {
            m.served = m.model.clone();
        }
        m.dir = m.model.clone();
        Ok(m)
    }
}

enum Role {
    Model(ModelArgs),
    Gateway,
}

/// STANDIN_CRASH_AFTER_HEALTHY_MS + 1 while armed (0: not armed, or already counting down).
static CRASH_AFTER_HEALTHY: AtomicU64 = AtomicU64::new(0);
const CRASHED_MARK: &str = "/standin-crashed";

fn crash_in(ms: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        let _ = std::fs::write(CRASHED_MARK, "crashed\n");
        println!("ERROR stand-in vLLM: simulated crash after serving (CUDA out of memory)");
        std::process::exit(3);
    });
}

fn env_ms(k: &str) -> Option<u64> {
    std::env::var(k).ok()?.parse().ok()
}

fn serve(role: Role) {
    let port = match &role {
        Role::Model(m) => m.port,
        Role::Gateway => std::env::var("AIGW_FASTAPI__API_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5052),
    };
    let ready = Arc::new(AtomicBool::new(false));
    let never = std::env::var("STANDIN_NEVER_HEALTHY").is_ok_and(|v| v == "1");
    let delay_file = match &role {
        Role::Model(m) => std::fs::read_to_string(format!("{}/STANDIN_START_DELAY_MS", m.dir))
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        Role::Gateway => None,
    };
    let delay = env_ms("STANDIN_START_DELAY_MS").or(delay_file).unwrap_or(0);
    if let Some(ms) = env_ms("STANDIN_CRASH_AFTER_MS") {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            println!("ERROR stand-in: simulated crash (CUDA out of memory)");
            std::process::exit(1);
        });
    }
    if let (Role::Model(_), Some(ms)) = (&role, env_ms("STANDIN_CRASH_AFTER_HEALTHY_MS")) {
        if std::path::Path::new(CRASHED_MARK).exists() {
            crash_in(ms);
        } else {
            CRASH_AFTER_HEALTHY.store(ms + 1, Ordering::SeqCst);
        }
    }
    match &role {
        Role::Model(m) => {
            println!("INFO stand-in vLLM: loading {} as {} on port {port}", m.model, m.served);
            if m.dir != m.model {
                println!("INFO stand-in vLLM: offline, {} at {} is the snapshot {}", m.model, m.revision, m.dir);
            }
            if let Ok(say) = std::fs::read_to_string(format!("{}/STANDIN_SAY", m.dir)) {
                println!("{}", say.trim_end());
            }
            if let Ok(refusal) = std::fs::read_to_string(format!("{}/STANDIN_EXIT_AT_START", m.dir)) {
                let (code, message) = refusal.split_once('\n').unwrap_or((refusal.as_str(), ""));
                for i in 1..=5 {
                    println!("INFO stand-in vLLM: checking arguments ({i}/5)");
                }
                eprintln!("{}", message.trim_end());
                std::process::exit(code.trim().parse().unwrap_or(1));
            }
        }
        Role::Gateway => {
            println!("INFO stand-in AI gateway on port {port}");
            // Like the real gateway: an unwritable log file is fatal.
            if let Ok(path) = std::env::var("AIGW_LOGGING__TO_FILE") {
                let opened = std::fs::OpenOptions::new().create(true).append(true).open(&path);
                match opened.and_then(|mut f| writeln!(f, "stand-in gateway started on port {port}")) {
                    Ok(()) => {}
                    Err(e) => {
                        eprintln!("PermissionError: cannot write log file {path}: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }
    }
    {
        let ready = ready.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay));
            println!("INFO stand-in: ready");
            ready.store(!never, Ordering::SeqCst);
        });
    }
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("stand-in: cannot listen on {port}: {e}");
            std::process::exit(1);
        }
    };
    let role = Arc::new(role);
    for stream in listener.incoming().flatten() {
        let (role, ready) = (role.clone(), ready.clone());
        std::thread::spawn(move || handle(stream, &role, ready.load(Ordering::SeqCst)));
    }
}

fn handle(mut s: TcpStream, role: &Role, ready: bool) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match s.try_clone() { Ok(c) => c, Err(_) => return });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    if let Role::Model(m) = role {
        if method == "POST" && path.ends_with("completions") {
            let hold = std::fs::read_to_string(format!("{}/STANDIN_COMPLETION_DELAY_MS", m.dir))
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if hold > 0 {
                println!("INFO stand-in vLLM: {method} {path} received, answering in {hold} ms");
                std::thread::sleep(Duration::from_millis(hold));
            }
        }
    }
    let (status, json) = route(role, ready, method, path, &String::from_utf8_lossy(&body));
    if status == 200 && path == "/health" {
        let armed = CRASH_AFTER_HEALTHY.swap(0, Ordering::SeqCst);
        if armed > 0 {
            crash_in(armed - 1);
        }
    }
    let reason = match status { 200 => "OK", 401 => "Unauthorized", 404 => "Not Found", _ => "Service Unavailable" };
    let _ = write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
}

fn route(role: &Role, ready: bool, method: &str, path: &str, body: &str) -> (u16, String) {
    match role {
        Role::Model(m) => {
            if !ready {
                return (503, "{\"error\":\"loading\"}".into());
            }
            match (method, path) {
                ("GET", "/health") => (200, String::new()),
                ("GET", "/stand-in/parallel") => (200, format!(
                    "{{\"tensor_parallel_size\":{},\"data_parallel_size\":{}}}",
                    m.tp, m.dp
                )),
                ("GET", "/v1/models") => (200, format!(
                    "{{\"object\":\"list\",\"data\":[{{\"id\":\"{}\",\"object\":\"model\",\"owned_by\":\"vllm\",\"root\":\"{}\"}}]}}",
                    m.served, m.model
                )),
                ("POST", "/v1/completions") | ("POST", "/v1/chat/completions") => {
                    if !body.contains(&format!("\"{}\"", m.served)) {
                        return (404, format!("{{\"object\":\"error\",\"message\":\"The model does not exist. Served: {}\"}}", m.served));
                    }
                    let chat = path.ends_with("chat/completions");
                    let choice = if chat {
                        "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"def hello():\\n    return 'hi'\"},\"finish_reason\":\"stop\"}"
                    } else {
                        "{\"index\":0,\"text\":\"def hello():\\n    return 'hi'\",\"finish_reason\":\"stop\"}"
                    };
                    (200, format!(
                        "{{\"id\":\"cmpl-standin\",\"object\":\"{}\",\"model\":\"{}\",\"choices\":[{choice}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}}}",
                        if chat { "chat.completion" } else { "text_completion" },
                        m.served
                    ))
                }
                _ => (404, "{\"detail\":\"Not Found\"}".into()),
            }
        }
        Role::Gateway => match (method, path) {
            ("GET", "/monitoring/healthz") if ready => (200, "{}".into()),
            ("GET", "/monitoring/healthz") => (503, "{\"status\":\"starting\"}".into()),
            ("GET", "/stand-in/env") => {
                let env: BTreeMap<String, String> = std::env::vars()
                    .filter(|(k, _)| k.starts_with("AIGW_") || k.starts_with("DUO_"))
                    .collect();
                let fields: Vec<String> = env
                    .iter()
                    .map(|(k, v)| {
                        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                        format!("\"{k}\":\"{v}\"")
                    })
                    .collect();
                (200, format!("{{{}}}", fields.join(",")))
            }
            _ => (401, "{\"error\":\"No authorization header presented\"}".into()),
        },
    }
}
