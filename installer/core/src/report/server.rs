//! The server seen through its engine (issue 14): the engine's `/info` answer as the report's host
//! platform and addresses, when the engine is not this machine. Pure: the engine's `hardware::server`
//! reads the answer.

use std::net::IpAddr;

use super::engine::Endpoint;
use super::network::{HostAddresses, InterfaceAddress};
use super::platform::{Arch, HostPlatform, OsFamily};

/// The fields of `/info` detection uses (all optional in the API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// The daemon host's name.
    pub name: Option<String>,
    pub os_type: Option<String>,
    pub operating_system: Option<String>,
    pub os_version: Option<String>,
    pub kernel_version: Option<String>,
    pub architecture: Option<String>,
    pub ncpu: Option<i64>,
}

/// What the CPU is called and whether x86-64 binaries are emulated are not in `/info`: "unknown" and
/// false (the platform decision then follows the engine's architecture alone).
pub fn host_platform(info: &EngineInfo) -> HostPlatform {
    let os = match info.os_type.as_deref() {
        Some("linux") => OsFamily::Linux,
        Some("windows") => OsFamily::Windows,
        _ => OsFamily::Other,
    };
    let arch_name = info.architecture.clone().unwrap_or_default();
    HostPlatform {
        os,
        os_name: info
            .operating_system
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        os_version: info.os_version.clone(),
        kernel: info.kernel_version.clone(),
        wsl2: info
            .kernel_version
            .as_deref()
            .is_some_and(|k| k.to_ascii_lowercase().contains("microsoft")),
        arch: Arch::parse(&arch_name),
        arch_name,
        cpu_model: "unknown (not in the engine's /info)".into(),
        logical_cores: info.ncpu.and_then(|n| usize::try_from(n).ok()).unwrap_or(0),
        x86_64_emulation: false,
    }
}

/// The host part of an endpoint's address: `tcp://gpu01.example.com:2376` → `gpu01.example.com`,
/// `ssh://admin@10.0.0.5:22` → `10.0.0.5`. `None` for a Unix socket.
pub fn endpoint_host(endpoint: &Endpoint) -> Option<String> {
    let url = match endpoint {
        Endpoint::Unix { .. } | Endpoint::NoContext { .. } => return None,
        Endpoint::Ssh { host, .. } => format!("ssh://{host}"),
        Endpoint::Tcp { addr, .. } => format!("tcp://{addr}"),
        Endpoint::Unsupported { url, .. } => url.clone(),
    };
    let parsed = url::Url::parse(&url).ok()?;
    let host = parsed.host_str()?.trim_matches(['[', ']']).to_string();
    (!host.is_empty()).then_some(host)
}

/// The names GitLab could reach the server by: the endpoint's host (an address or a name with a dot),
/// else the daemon's own name when it has a dot. Loopback endpoints name nothing (the workstation).
pub fn addresses(endpoint: &Endpoint, info: &EngineInfo) -> HostAddresses {
    let hostname = info.name.clone().unwrap_or_default();
    let host = endpoint_host(endpoint).filter(|h| h != "localhost");
    let ip = host.as_deref().and_then(|h| h.parse::<IpAddr>().ok());
    let addresses = ip
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|ip| InterfaceAddress {
            interface: "engine endpoint".into(),
            ip,
        })
        .into_iter()
        .collect();
    let fqdn = host
        .filter(|h| ip.is_none() && h.contains('.'))
        .or_else(|| Some(hostname.clone()).filter(|n| n.contains('.')));
    let fqdn_problem = fqdn.is_none().then(|| {
        format!(
            "the engine's host calls itself \"{hostname}\", which is not a fully qualified name; \
             give the server's name or address"
        )
    });
    HostAddresses {
        hostname,
        fqdn,
        fqdn_problem,
        addresses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> EngineInfo {
        EngineInfo {
            name: Some("gpu01".into()),
            os_type: Some("linux".into()),
            operating_system: Some("Ubuntu 22.04.4 LTS".into()),
            os_version: Some("22.04".into()),
            kernel_version: Some("5.15.0-105-generic".into()),
            architecture: Some("x86_64".into()),
            ncpu: Some(96),
        }
    }

    #[test]
    fn the_platform_is_the_engines() {
        let h = host_platform(&info());
        assert_eq!(
            (h.os, h.arch, h.logical_cores),
            (OsFamily::Linux, Arch::X86_64, 96)
        );
        assert_eq!(h.os_name, "Ubuntu 22.04.4 LTS");
        assert!(!h.wsl2);
        let arm = host_platform(&EngineInfo {
            architecture: Some("aarch64".into()),
            ..info()
        });
        assert_eq!(arm.arch, Arch::Aarch64);
    }

    #[test]
    fn the_gateway_host_is_the_servers_never_the_workstations() {
        let tcp = |a: &str| Endpoint::Tcp {
            addr: a.into(),
            tls: None,
        };
        let ssh = Endpoint::Ssh {
            user: Some("admin".into()),
            host: "10.0.0.5".into(),
            port: Some(22),
        };
        let cases: [(Endpoint, Vec<&str>); 5] = [
            (tcp("gpu01.example.com:2376"), vec!["gpu01.example.com"]),
            (ssh, vec!["10.0.0.5"]),
            (tcp("[2001:db8::7]:2376"), vec!["[2001:db8::7]"]),
            (tcp("127.0.0.1:2375"), vec![]),
            (
                Endpoint::Unix {
                    path: "/var/run/docker.sock".into(),
                },
                vec![],
            ),
        ];
        for (e, want) in cases {
            assert_eq!(
                addresses(&e, &info()).gateway_host_candidates(),
                want,
                "{e:?}"
            );
        }
        let named = EngineInfo {
            name: Some("gpu01.lab.example".into()),
            ..info()
        };
        assert_eq!(
            addresses(&tcp("127.0.0.1:2375"), &named).gateway_host_candidates(),
            ["gpu01.lab.example"]
        );
    }
}
