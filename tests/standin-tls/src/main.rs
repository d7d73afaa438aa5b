//! TEST FIXTURE — not part of the product. `standin-tls URL`: the gateway stand-in's HTTPS fetch for the
//! installer's GitLab probe, as the real image's Python does it: TLS verified against the CA bundle in
//! `SSL_CERT_FILE` (else `REQUESTS_CA_BUNDLE`) and nothing else — the stand-in image has no system roots —,
//! then the probe's one JSON line (`../standin/probe.rs`). `tests/src/standin.rs` builds it static
//! (glibc, crt-static) and copies it into the `FROM scratch` stand-in images at `/usr/bin/standin-tls`.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

#[path = "../../standin/probe.rs"]
#[allow(dead_code)]
mod probe;

fn main() {
    let url = std::env::args().nth(1).unwrap_or_default();
    std::process::exit(probe::report(fetch(&url)));
}

fn fetch(url: &str) -> Result<(u16, String, Vec<u8>), String> {
    let target = probe::Target::parse(url)?;
    let mut roots = rustls::RootCertStore::empty();
    let bundle = std::env::var("SSL_CERT_FILE").or_else(|_| std::env::var("REQUESTS_CA_BUNDLE"));
    if let Ok(file) = bundle {
        let certs = CertificateDer::pem_file_iter(&file).map_err(|e| {
            format!("FileNotFoundError: [Errno 2] No such file or directory ({file}: {e})")
        })?;
        for cert in certs.flatten() {
            let _ = roots.add(cert);
        }
    }
    // ring, as the product uses (its post-quantum deprecation does not matter to a test fixture).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("SSLError: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(target.host.clone()).map_err(|e| format!("InvalidURL: {e}"))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| format!("SSLError: {e}"))?;
    let tcp = probe::connect(&target)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    probe::get(&mut tls, &target).map_err(tls_error)
}

/// A handshake failure worded as Python's `ssl` words it (`CERTIFICATE_VERIFY_FAILED` is what the
/// installer looks for).
fn tls_error(io: String) -> String {
    if io.contains("UnknownIssuer") {
        return "URLError: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1000)>".into();
    }
    if io.contains("Expired") {
        return "URLError: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1000)>".into();
    }
    if io.contains("NotValidForName") {
        return "URLError: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for this host (_ssl.c:1000)>".into();
    }
    io
}
