//! Probes of this host's ports, interfaces and resolver, read into the core's network facts.

use aigw_core::gitlab::inputs::is_local_only_name;
pub use aigw_core::report::network::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

/// Tries to bind the port on all IPv4 interfaces, as Docker's port publishing would.
pub fn check_port(port: u16) -> PortState {
    match TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
        Ok(_) => PortState::Free,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => PortState::InUse {
            by_our_container: None,
        },
        Err(e) => PortState::Unknown {
            detail: e.to_string(),
        },
    }
}

pub fn interface_addresses() -> Vec<InterfaceAddress> {
    if_addrs::get_if_addrs()
        .map(|list| {
            list.into_iter()
                .map(|i| InterfaceAddress {
                    ip: i.ip(),
                    interface: i.name,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asks the resolver for the canonical name of `hostname` (blocking: callers bound it with a time-out).
pub fn resolve_fqdn(hostname: &str) -> Result<String, String> {
    let hints = dns_lookup::AddrInfoHints {
        flags: libc::AI_CANONNAME,
        address: 0,
        socktype: libc::SOCK_STREAM,
        protocol: 0,
    };
    let iter = dns_lookup::getaddrinfo(Some(hostname), None, Some(hints))
        .map_err(|e| format!("{hostname} does not resolve: {}", std::io::Error::from(e)))?;
    let canon = iter
        .flatten()
        .find_map(|a| a.canonname)
        .unwrap_or_else(|| hostname.to_string());
    if is_local_only_name(&canon) || !canon.contains('.') {
        Err(format!(
            "{hostname} resolves to \"{canon}\", which is not a fully qualified name"
        ))
    } else {
        Ok(canon)
    }
}

/// A warning (not a refusal: GitLab's resolver may know names this machine does not) when `host` does not
/// resolve from here within `timeout`.
pub fn resolution_warning(host: &str, timeout: std::time::Duration) -> Option<String> {
    let bare = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if bare.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = bare.clone();
    std::thread::spawn(move || {
        use std::net::ToSocketAddrs;
        let _ = tx.send(
            (name.as_str(), 0)
                .to_socket_addrs()
                .map(|mut a| a.next().is_some()),
        );
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(true)) => None,
        Ok(_) => Some(format!(
            "{bare} does not resolve from this machine: make sure GitLab and your IDEs can resolve it (DNS or /etc/hosts)"
        )),
        Err(_) => Some(format!("resolving {bare} took longer than {timeout:?}: check this machine's DNS")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn unresolvable_names_warn_addresses_do_not() {
        let t = std::time::Duration::from_secs(3);
        assert!(resolution_warning("10.0.0.5", t).is_none());
        assert!(resolution_warning("[2001:db8::5]", t).is_none());
        let w = resolution_warning("no-such-host.invalid", t).unwrap();
        assert!(w.contains("no-such-host.invalid"), "{w}");
    }

    #[test]
    fn a_held_port_is_reported_in_use() {
        // Once released, any other process on the machine (other tests included) may take the port
        // before it is checked again: "free" must be seen for one of a few released ports, "in use"
        // for every held one.
        let mut seen_free = false;
        for _ in 0..5 {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = l.local_addr().expect("addr").port();
            assert_eq!(
                check_port(port),
                PortState::InUse {
                    by_our_container: None
                }
            );
            drop(l);
            if check_port(port) == PortState::Free {
                seen_free = true;
                break;
            }
        }
        assert!(seen_free, "a released port never read as free");
    }
}
