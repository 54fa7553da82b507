//! TLS to the database, chosen by the URL's `sslmode` as libpq chooses it:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | no |
//! | `require` | always | no (against `sslrootcert` when one is given, as libpq) |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA and naming the host |
//!
//! The trusted CAs are the PEM file `sslrootcert=PATH` names, else the system's store.
//! `sslrootcert` is taken out of the URL here (the driver does not know it); everything
//! else is the driver's. rustls with the *ring* provider does the TLS.

use postgres::config::{Host, SslMode};
use postgres::{Client, Config, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where and how to connect: the driver's configuration and the TLS connector it needs.
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    tls: Option<MakeRustlsConnect>,
    /// The URL's `sslmode` (`prefer` when it has none).
    mode: String,
    /// The server's certificate is checked (at least its chain).
    verified: bool,
}

impl Target {
    /// Parses `url` (a `postgres://` URL or libpq's `key=value` form).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (rest, mode, root) = take_tls_params(url);
        let mut config = Config::from_str(&rest).map_err(|e| e.to_string())?;
        let mode = mode.as_deref().unwrap_or("prefer");
        let check = match (mode, &root) {
            ("disable", _) => {
                config.ssl_mode(SslMode::Disable);
                return Ok(Target {
                    config,
                    tls: None,
                    mode: mode.into(),
                    verified: false,
                });
            }
            ("prefer", _) => Check::Nothing,
            ("require", None) => Check::Nothing,
            ("require" | "verify-ca", _) => Check::Chain,
            ("verify-full", _) => Check::ChainAndName,
            (other, _) => {
                return Err(format!(
                    "sslmode={other} is not supported: use disable, prefer, require, verify-ca \
                     or verify-full"
                ));
            }
        };
        config.ssl_mode(if mode == "prefer" {
            SslMode::Prefer
        } else {
            SslMode::Require
        });
        let tls = client_config(check, root.as_deref())?;
        Ok(Target {
            config,
            tls: Some(MakeRustlsConnect::new(tls)),
            mode: mode.into(),
            verified: !matches!(check, Check::Nothing),
        })
    }

    /// What a machine between this host and the database could do, when the
    /// connection leaves the machine (a host other than loopback or a Unix socket) and
    /// the server's certificate is not checked: `sslmode` disable, prefer, or require
    /// without `sslrootcert`. libpq connects all the same, and so does maas.
    pub fn unverified_remote(&self) -> Option<String> {
        if self.verified {
            return None;
        }
        let remote: Vec<String> = if self.config.get_hostaddrs().is_empty() {
            self.config
                .get_hosts()
                .iter()
                .filter_map(|h| match h {
                    Host::Tcp(name) if !is_loopback(name) => Some(name.clone()),
                    _ => None,
                })
                .collect()
        } else {
            self.config
                .get_hostaddrs()
                .iter()
                .filter(|a| !a.is_loopback())
                .map(ToString::to_string)
                .collect()
        };
        let host = remote.first()?;
        let what = match self.mode.as_str() {
            "disable" => "is not encrypted",
            "require" => "is encrypted but the server's certificate is not checked",
            _ => "is encrypted only if the server offers it, and its certificate is not checked",
        };
        Some(format!(
            "the journal's connection to {host} (sslmode={}) {what}: a machine in the path \
             can pose as the database, read the password and every entry, and change them. \
             Add sslmode=verify-full (and sslrootcert=/path/to/ca.pem for a CA of your own) \
             to the --store URL",
            self.mode
        ))
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }
}

/// True for `localhost` and loopback addresses.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The driver's view of `url` (user, host, database, …), with no TLS set up and no
/// file read.
pub fn driver_config(url: &str) -> Result<Config, String> {
    Config::from_str(&take_tls_params(url).0).map_err(|e| e.to_string())
}

/// `url` without `sslmode` and `sslrootcert`, and their values.
fn take_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut keep = |key: &str, value: &str| match key {
        "sslmode" => {
            mode = Some(value.to_string());
            false
        }
        "sslrootcert" => {
            root = Some(value.to_string());
            false
        }
        _ => true,
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        keep(k, &percent_decoded(v))
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_string(),
        }
    } else {
        url.split_whitespace()
            .filter(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                keep(k.trim(), v.trim().trim_matches('\''))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, mode, root)
}

/// `%XX` escapes decoded (a path in a URL may carry them).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What is checked of the server's certificate.
#[derive(Clone, Copy)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

fn client_config(check: Check, root: Option<&str>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(Lenient {
            chain: None,
            algorithms,
        }),
        Check::Chain | Check::ChainAndName => {
            let roots = Arc::new(roots(root)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("cannot build the certificate check: {e}"))?;
            match check {
                Check::Chain => Arc::new(Lenient {
                    chain: Some(webpki),
                    algorithms,
                }),
                _ => webpki,
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The CAs in the PEM file `path`, else the system's.
fn roots(path: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match path {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| format!("cannot read the CA certificates in {path}: {e}"))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("{path} holds no CA certificate"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "the system has no CA certificates: name a CA file with sslrootcert=PATH"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// `sslmode=prefer` and `require` (no `chain`): encrypted, certificate unchecked, as
/// libpq. `verify-ca` (a `chain`): the chain is checked, the name in the certificate is
/// not. The handshake's signatures are verified either way.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Target, take_tls_params};

    #[test]
    fn tls_parameters_are_taken_out_of_both_url_forms() {
        let (rest, mode, root) = take_tls_params(
            "postgres://u@h:5/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x",
        );
        assert_eq!(rest, "postgres://u@h:5/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (rest, mode, root) = take_tls_params("postgres://u@h/db?sslmode=disable");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("postgres://u@h/db", Some("disable"), None)
        );
        let (rest, mode, root) =
            take_tls_params("host=h user=u sslmode=require sslrootcert='/ca.pem'");
        assert_eq!(rest, "host=h user=u");
        assert_eq!(mode.as_deref(), Some("require"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn an_unchecked_connection_off_the_machine_is_warned_of() {
        let warned = |url: &str| Target::parse(url).unwrap().unverified_remote();
        let w = warned("postgres://maas:pw@db.internal/maas").unwrap();
        assert!(
            w.contains("db.internal") && w.contains("sslmode=prefer"),
            "{w}"
        );
        assert!(w.contains("verify-full") && !w.contains("pw@"), "{w}");
        assert!(warned("postgres://u@db/x?sslmode=require").is_some());
        assert!(warned("postgres://u@db/x?sslmode=disable").is_some());
        assert!(warned("host=10.1.2.3 user=u sslmode=require").is_some());
        // A remote host reached at a loopback address (an SSH tunnel) is local.
        assert!(warned("postgres://u@db/x?hostaddr=127.0.0.1").is_none());
        for local in [
            "postgres://u@localhost/x",
            "postgres://u@127.0.0.1:5432/x?sslmode=disable",
            "postgres://u@[::1]/x",
            "postgres:///x?host=/run/postgresql",
            "host=/run/postgresql user=u",
        ] {
            assert!(warned(local).is_none(), "{local}");
        }
    }

    #[test]
    fn unknown_modes_and_missing_ca_files_are_refused_with_the_reason() {
        let e = Target::parse("postgres://u@h/db?sslmode=allow")
            .err()
            .unwrap();
        assert!(e.contains("sslmode=allow is not supported"), "{e}");
        let e =
            Target::parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .err()
                .unwrap();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        assert!(Target::parse("postgres://u@h/db?sslmode=disable").is_ok());
        assert!(Target::parse("postgres://u@h/db").is_ok());
    }
}
