//! A stand-in for the path between a client and the Docker engine: a TCP port that forwards to the engine
//! until the client sends the request a test names, then lets the engine answer it and withholds that
//! answer, and every later one, from the client. A test that kills the client then has killed it inside
//! the step that request begins, whatever the step's speed: the engine has done the work, the client has
//! not learnt of it. Point the client at it with `DOCKER_HOST=tcp://127.0.0.1:PORT`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A request as the engine sees it: the method and the path without the API version prefix
/// (`POST`, `/containers/create?name=x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
}

type Trigger = Box<dyn Fn(&Request) -> bool + Send>;

struct State {
    trigger: Trigger,
    /// The connection whose request matched; from then on no answer reaches the client.
    held_on: Option<u64>,
    /// The request that matched.
    matched: Option<Request>,
    /// The engine's status line for the matched request, once it answered.
    answer: Option<String>,
    seen: Vec<Request>,
    closed: bool,
    sockets: Vec<(TcpStream, UnixStream)>,
    next_id: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks a connection that may not pass data on, until the interposer is closed.
    fn park(&self) {
        let mut st = self.lock();
        while !st.closed {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

pub struct Interposer {
    port: u16,
    shared: Arc<Shared>,
}

/// The engine's Unix socket this machine's tests use.
fn engine_socket() -> PathBuf {
    match aigw_engine::docker::engine::default_socket(None) {
        aigw_core::report::engine::Endpoint::Unix { path } => path,
        other => panic!("the interposer forwards to a Unix socket; the engine is at {other:?}"),
    }
}

impl Interposer {
    /// Forwards to this machine's engine; holds from the first request `trigger` accepts.
    pub fn start(trigger: impl Fn(&Request) -> bool + Send + 'static) -> Self {
        let upstream = engine_socket();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the interposer");
        let port = listener.local_addr().expect("its address").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                trigger: Box::new(trigger),
                held_on: None,
                matched: None,
                answer: None,
                seen: Vec::new(),
                closed: false,
                sockets: Vec::new(),
                next_id: 0,
            }),
            changed: Condvar::new(),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mut st = accepting.lock();
                if st.closed {
                    return;
                }
                let Ok(engine) = UnixStream::connect(&upstream) else {
                    continue;
                };
                let id = st.next_id;
                st.next_id += 1;
                let (Ok(c2), Ok(e2)) = (client.try_clone(), engine.try_clone()) else {
                    continue;
                };
                st.sockets.push((c2, e2));
                drop(st);
                let (Ok(c_in), Ok(e_out)) = (client.try_clone(), engine.try_clone()) else {
                    continue;
                };
                let to_engine = accepting.clone();
                std::thread::spawn(move || requests(&to_engine, id, c_in, e_out));
                let to_client = accepting.clone();
                std::thread::spawn(move || answers(&to_client, id, engine, client));
            }
        });
        Self { port, shared }
    }

    /// `tcp://127.0.0.1:PORT`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Waits until the engine has answered the matched request (the client has not seen the answer) and
    /// returns the engine's status line. Gives up with `None` once `gone()` says the client ended first;
    /// `guard` only bounds a hang.
    pub fn wait_answered(&self, mut gone: impl FnMut() -> bool, guard: Duration) -> Option<String> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        loop {
            if let Some(a) = &st.answer {
                return Some(a.clone());
            }
            assert!(
                started.elapsed() < guard,
                "no matching request within {guard:?}; requests seen: {:#?}",
                st.seen
            );
            drop(st);
            if gone() {
                return None;
            }
            st = self.shared.lock();
            // Woken by the answer; the time-out only lets `gone` be asked again.
            st = self
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until a request matched (it is on its way to the engine, which may not have answered yet)
    /// and returns it: a client killed now leaves the engine to finish that request on its own. Gives up
    /// with `None` once `gone()` says the client ended first; `guard` only bounds a hang.
    pub fn wait_held(&self, mut gone: impl FnMut() -> bool, guard: Duration) -> Option<Request> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        loop {
            if let Some(r) = &st.matched {
                return Some(r.clone());
            }
            assert!(
                started.elapsed() < guard,
                "no matching request within {guard:?}; requests seen: {:#?}",
                st.seen
            );
            drop(st);
            if gone() {
                return None;
            }
            st = self.shared.lock();
            st = self
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(20))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The requests that reached the interposer so far.
    pub fn seen(&self) -> Vec<Request> {
        self.shared.lock().seen.clone()
    }
}

impl Drop for Interposer {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        for (c, e) in st.sockets.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
            let _ = e.shutdown(Shutdown::Both);
        }
        drop(st);
        self.shared.changed.notify_all();
        // Wakes the accepting thread so that it sees `closed` and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Client to engine: reads the request lines as they pass and stops passing anything on once another
/// connection's request matched.
fn requests(shared: &Shared, id: u64, mut client: TcpStream, mut engine: UnixStream) {
    let mut line = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut st = shared.lock();
            if st.closed {
                break;
            }
            if st.held_on.is_some_and(|h| h != id) {
                drop(st);
                shared.park();
                break;
            }
            for &b in &buf[..n] {
                line.push(b);
                if line.ends_with(b"\r\n") {
                    if let Some(r) = request_line(&line[..line.len() - 2]) {
                        if st.held_on.is_none() && (st.trigger)(&r) {
                            st.held_on = Some(id);
                            st.matched = Some(r.clone());
                            shared.changed.notify_all();
                        }
                        st.seen.push(r);
                    }
                    line.clear();
                }
            }
            // A body without line ends (JSON) is of no interest beyond its tail.
            if line.len() > 64 * 1024 {
                line.drain(..line.len() - 4096);
            }
        }
        if engine.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = engine.shutdown(Shutdown::Write);
}

/// Engine to client: passes answers on until a request matched; then keeps them, noting the status line
/// of the matched request's answer.
fn answers(shared: &Shared, id: u64, mut engine: UnixStream, mut client: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match engine.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut st = shared.lock();
            if st.closed {
                break;
            }
            if let Some(held) = st.held_on {
                if held == id && st.answer.is_none() {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    st.answer = Some(text.lines().next().unwrap_or_default().to_string());
                    shared.changed.notify_all();
                }
                drop(st);
                shared.park();
                break;
            }
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
}

/// `POST /v1.47/containers/create?name=x HTTP/1.1` → (`POST`, `/containers/create?name=x`). What precedes
/// the method on the same line is the previous request's body (JSON has no line ends).
fn request_line(line: &[u8]) -> Option<Request> {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix(" HTTP/1.1")?;
    let (at, method) = ["GET", "POST", "PUT", "DELETE", "HEAD"]
        .iter()
        .filter_map(|m| text.rfind(&format!("{m} /")).map(|i| (i, *m)))
        .max_by_key(|(i, _)| *i)?;
    let path = &text[at + method.len() + 1..];
    let path = match path.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    Some(Request {
        method: method.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_read_past_a_body() {
        let r = request_line(b"{\"a\":1}POST /v1.47/containers/create?name=x HTTP/1.1").unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/containers/create?name=x");
        let r = request_line(b"GET /_ping HTTP/1.1").unwrap();
        assert_eq!(r.path, "/_ping");
        assert!(request_line(b"Host: docker").is_none());
    }
}
