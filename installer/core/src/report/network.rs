//! Ports the stack needs on this host, and the names and addresses GitLab and IDEs could use to reach the
//! gateway. `localhost` is never a candidate: GitLab, the gateway and each IDE resolve it to themselves.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortPurpose {
    /// AI Gateway HTTP API (`AIGW_FASTAPI__API_PORT`, 5052 in the self-hosted image).
    Gateway,
    /// vLLM's OpenAI-compatible server.
    ModelServer,
    /// Duo Agent Platform gRPC (GitLab 18.4 and later).
    AgentPlatform,
}

/// The ports of a default install.
pub const DEFAULT_PORTS: [(u16, PortPurpose); 3] = [
    (5052, PortPurpose::Gateway),
    (8000, PortPurpose::ModelServer),
    (50052, PortPurpose::AgentPlatform),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCheck {
    pub port: u16,
    pub purpose: PortPurpose,
    #[serde(flatten)]
    pub state: PortState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PortState {
    Free,
    /// Something listens there; `by_our_container` names our own container when it is the holder.
    InUse {
        by_our_container: Option<String>,
    },
    /// The check itself failed (e.g. privileged port, no permission).
    Unknown {
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAddresses {
    pub hostname: String,
    /// The canonical name from the resolver, when it has a dot (a real FQDN).
    pub fqdn: Option<String>,
    /// Why no FQDN was found, when none was.
    pub fqdn_problem: Option<String>,
    /// Non-loopback, non-link-local addresses on interfaces other than container bridges.
    pub addresses: Vec<InterfaceAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAddress {
    pub interface: String,
    pub ip: IpAddr,
}

impl HostAddresses {
    /// Candidates for the gateway URL's host, best first: FQDN, then addresses (IPv4 before IPv6).
    pub fn gateway_host_candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.fqdn.iter().cloned().collect();
        let mut ips: Vec<&InterfaceAddress> = self.addresses.iter().collect();
        ips.sort_by_key(|a| (a.ip.is_ipv6(), a.ip));
        out.extend(ips.into_iter().map(|a| match a.ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        }));
        out.dedup();
        out
    }
}

/// Interfaces whose addresses other hosts cannot reach: container bridges and virtual pairs.
pub fn is_container_bridge(interface: &str) -> bool {
    [
        "docker", "br-", "veth", "virbr", "cni", "flannel", "cali", "podman", "lxcbr",
    ]
    .iter()
    .any(|p| interface.starts_with(p))
}

/// Keeps what a remote GitLab could use.
pub fn usable_addresses(all: impl IntoIterator<Item = InterfaceAddress>) -> Vec<InterfaceAddress> {
    all.into_iter()
        .filter(|a| !a.ip.is_loopback() && !a.ip.is_unspecified() && !is_link_local(&a.ip))
        .filter(|a| !is_container_bridge(&a.interface))
        .collect()
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reachable_addresses_are_candidates() {
        let a = |i: &str, ip: &str| InterfaceAddress {
            interface: i.into(),
            ip: ip.parse().expect("ip"),
        };
        let kept = usable_addresses([
            a("lo", "127.0.0.1"),
            a("lo", "::1"),
            a("docker0", "172.17.0.1"),
            a("br-1a2b", "172.18.0.1"),
            a("eth0", "169.254.3.4"),
            a("eth0", "fe80::1"),
            a("eth0", "10.20.0.5"),
            a("eth0", "2001:db8::5"),
        ]);
        let h = HostAddresses {
            hostname: "gpu01".into(),
            fqdn: Some("gpu01.example.com".into()),
            fqdn_problem: None,
            addresses: kept,
        };
        assert_eq!(
            h.gateway_host_candidates(),
            vec!["gpu01.example.com", "10.20.0.5", "[2001:db8::5]"]
        );
    }
}
