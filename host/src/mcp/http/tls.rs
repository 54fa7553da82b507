//! HTTPS for `maas serve`: a certificate chain and its private key read from PEM files,
//! served with rustls (TLS 1.2 and 1.3, ring's algorithms, no client certificates).
//! Bearer tokens then cross the network encrypted. The files are read again when they
//! change (a renewal): a new pair is served from the next handshake once it has stayed
//! the same for one check (so a file caught half written is never served) and only if
//! it can serve (key and certificate belong together, the certificate is in date).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};

/// What a connection is read and written through: the TCP stream itself, or TLS over it.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// How often the certificate and key files are read to see whether they changed.
pub const FILES_CHECK: Duration = Duration::from_secs(10);

/// The longest a TLS handshake may take (or the header timeout, if shorter): a client
/// then has the header timeout again for its request's headers, as over plain HTTP.
pub const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

/// The server's TLS settings, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    files: Arc<Files>,
    check: Duration,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.files.cert)
            .field("key", &self.files.key)
            .finish()
    }
}

/// The files served and what they held when last read.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    /// What the files held when last read and acted on.
    read: Mutex<Reading>,
    served: Arc<Served>,
}

/// The certificate and key each handshake is given.
#[derive(Debug)]
struct Served(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| Arc::clone(&k))
    }
}

/// The files' contents as digests (`None`: one could not be read).
#[derive(Default)]
struct Reading {
    /// The contents last acted on (served, refused or told unreadable), so each is tried
    /// and told once.
    acted: Option<[u8; 32]>,
    /// Contents seen once that differ from `acted`: acted on if the next read finds them
    /// the same.
    settling: Option<Option<[u8; 32]>>,
}

/// What a PEM file's error says, without the file's bytes (a key's `Display` would
/// quote the lines it could not read).
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_string(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_string(),
        pem::Error::Base64Decode(_) => "a PEM section's base64 does not decode".to_string(),
        pem::Error::Io(io) => io.to_string(),
        pem::Error::NoItemsFound => "no PEM section of the kind wanted".to_string(),
        _ => "malformed PEM".to_string(),
    }
}

/// Whether the certificate `leaf` (from the file `cert`) is in date now.
fn in_date(cert: &Path, leaf: &CertificateDer<'_>) -> Result<(), String> {
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(leaf.as_ref())
        .map_err(|e| format!("cannot read the certificate in {}: {e}", cert.display()))?;
    let validity = &parsed.tbs_certificate.validity;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if now < validity.not_before.to_unix_duration() {
        return Err(format!(
            "the certificate in {} is not valid before {}",
            cert.display(),
            validity.not_before
        ));
    }
    if now > validity.not_after.to_unix_duration() {
        return Err(format!(
            "the certificate in {} expired at {}",
            cert.display(),
            validity.not_after
        ));
    }
    Ok(())
}

/// A digest of the certificate and key files' contents.
fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_le_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

/// Most bytes of a certificate chain or key file read.
const MOST_PEM_BYTES: u64 = 1 << 20;

/// The bytes of `path`, or why they cannot be read (a file the user named:
/// `owned::read_input`).
fn bytes(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    crate::owned::read_input(path, MOST_PEM_BYTES)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

/// The certificate chain in `cert` and the private key in `key` (PEM bytes, read from
/// the paths named), checked to belong together.
fn certified(
    (cert, cert_pem): (&Path, &[u8]),
    (key, key_pem): (&Path, &[u8]),
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "cannot read a certificate from {}: {}",
                cert.display(),
                pem_problem(&e)
            )
        })?;
    let Some(leaf) = chain.first() else {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    };
    in_date(cert, leaf)?;
    let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        format!(
            "cannot read a private key from {}: {}",
            key.display(),
            pem_problem(&e)
        )
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "the key in {} is not the key of the certificate in {} (is the certificate the \
             server's own, first in its chain, rather than its authority's?)",
            key.display(),
            cert.display()
        ),
        e => format!(
            "the key in {} cannot serve the certificate in {}: {e}",
            key.display(),
            cert.display()
        ),
    })
}

impl Tls {
    /// Reads the certificate chain at `cert` (the server's certificate first, then its
    /// intermediates) and the private key at `key` (PKCS#8, PKCS#1 or SEC1), both PEM.
    /// The error says which file is wrong and why.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert_pem, key_pem) = (bytes(cert, "certificate")?, bytes(key, "key")?);
        let first = certified((cert, &cert_pem), (key, &key_pem), &provider)?;
        let served = Arc::new(Served(RwLock::new(Arc::new(first))));
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(served.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            files: Arc::new(Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                provider,
                read: Mutex::new(Reading {
                    acted: Some(digest(&cert_pem, &key_pem)),
                    settling: None,
                }),
                served,
            }),
            check: FILES_CHECK,
        })
    }

    /// The same, its files read for changes every `every` instead of [`FILES_CHECK`].
    pub fn checked_every(self, every: Duration) -> Tls {
        Tls {
            check: every,
            ..self
        }
    }

    /// The DNS names and IP addresses the served certificate names (its subject
    /// alternative names), as clients compare them with the host they asked for.
    pub fn names(&self) -> Vec<String> {
        use x509_cert::der::Decode;
        use x509_cert::der::oid::AssociatedOid;
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;
        let Ok(served) = self.files.served.0.read() else {
            return Vec::new();
        };
        let Some(leaf) = served.cert.first() else {
            return Vec::new();
        };
        let Ok(parsed) = x509_cert::Certificate::from_der(leaf.as_ref()) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        let extensions = parsed.tbs_certificate.extensions.unwrap_or_default();
        for ext in extensions
            .iter()
            .filter(|e| e.extn_id == SubjectAltName::OID)
        {
            let Ok(alt) = SubjectAltName::from_der(ext.extn_value.as_bytes()) else {
                continue;
            };
            for name in alt.0 {
                match name {
                    GeneralName::DnsName(dns) => names.push(dns.to_string().to_ascii_lowercase()),
                    GeneralName::IpAddress(ip) => {
                        let bytes = ip.as_bytes();
                        let ip = <[u8; 4]>::try_from(bytes)
                            .map(std::net::IpAddr::from)
                            .or_else(|_| <[u8; 16]>::try_from(bytes).map(std::net::IpAddr::from));
                        if let Ok(ip) = ip {
                            names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        names
    }

    /// Whether a client asking for `host` (a name or an IP, without port) finds it among
    /// the certificate's `names` (a `*.` name covers one label).
    pub fn covers(names: &[String], host: &str) -> bool {
        let host = super::origin::host_name(host);
        names.iter().any(|n| {
            *n == host
                || n.strip_prefix("*.").is_some_and(|tail| {
                    host.split_once('.')
                        .is_some_and(|(label, rest)| !label.is_empty() && rest == tail)
                })
        })
    }

    /// How often the files are read for changes.
    pub(super) fn check(&self) -> Duration {
        self.check
    }

    /// Reads the files again. Contents that changed since they were last acted on, and
    /// that this read finds as the one before did (settled, not caught half written),
    /// are served from the next handshake (`Some(Ok)`), or, if they cannot serve (a key
    /// of another certificate, a certificate out of date), the pair served before stays
    /// and `Some(Err)` says why (once for each pair of contents, and once while a file
    /// cannot be read). `None`: nothing to act on yet.
    pub fn reload_if_changed(&self) -> Option<Result<(), String>> {
        let f = &self.files;
        let now = match (bytes(&f.cert, "certificate"), bytes(&f.key, "key")) {
            (Ok(c), Ok(k)) => Ok((c, k)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let seen = now.as_ref().ok().map(|(c, k)| digest(c, k));
        let mut read = f.read.lock().ok()?;
        if read.acted == seen {
            read.settling = None;
            return None;
        }
        if read.settling != Some(seen) {
            read.settling = Some(seen);
            return None;
        }
        read.acted = seen;
        read.settling = None;
        let (cert, key) = match now {
            Ok(pair) => pair,
            Err(e) => return Some(Err(e)),
        };
        let swapped = certified((&f.cert, &cert), (&f.key, &key), &f.provider).map(|k| {
            if let Ok(mut served) = f.served.0.write() {
                *served = Arc::new(k);
            }
        });
        Some(swapped)
    }

    /// The connection `stream` once its handshake is done, or `None` if the handshake
    /// failed or took longer than `within`. A client that sent plain HTTP instead (its
    /// first byte is not a TLS handshake record's) is answered 400 in plain HTTP, saying
    /// so, rather than left with a closed connection to puzzle over.
    pub(super) async fn accept(
        &self,
        mut stream: tokio::net::TcpStream,
        within: Duration,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<Box<dyn Io>> {
        let handshake = async {
            let mut first = [0u8; 1];
            if stream.peek(&mut first).await.ok()? == 0 {
                return None;
            }
            if first != [HANDSHAKE_RECORD] {
                plain_http_answered(&mut stream).await;
                return None;
            }
            self.acceptor.accept(stream).await.ok()
        };
        tokio::select! {
            done = tokio::time::timeout(within.min(HANDSHAKE_TIME), handshake) => match done {
                Ok(Some(stream)) => Some(Box::new(stream)),
                _ => None,
            },
            () = stop.cancelled() => None,
        }
    }
}

/// The content type of a TLS record that opens a handshake: every TLS client's first byte.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Answers a plain HTTP request sent to the HTTPS port, then closes the connection.
async fn plain_http_answered(stream: &mut tokio::net::TcpStream) {
    let text = "this server speaks HTTPS: send the request to https:// at the same address\n";
    let within = std::time::Duration::from_secs(1);
    answer_and_close(stream, "400 Bad Request", "", text, within).await;
}

/// Writes a plain-text HTTP answer (`status`, extra `headers` each ending in CRLF) on a
/// connection no HTTP server reads, then closes it. What the client sent is read and
/// dropped first (within `within` in all), so the close does not reset the connection
/// before the answer is read.
pub(super) async fn answer_and_close<S>(
    stream: &mut S,
    status: &str,
    headers: &str,
    text: &str,
    within: std::time::Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\n{headers}connection: close\r\n\
         content-length: {}\r\n\r\n{text}",
        text.len()
    );
    let drain = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(within, drain).await;
}

/// `stream` as it is served: through TLS when `tls` is set (`None` if the handshake
/// fails within `within` or [`HANDSHAKE_TIME`], or the server stops meanwhile), else as
/// it is.
pub(super) async fn wrap(
    tls: Option<&Tls>,
    stream: tokio::net::TcpStream,
    within: Duration,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<Box<dyn Io>> {
    match tls {
        Some(tls) => tls.accept(stream, within, stop).await,
        None => Some(Box::new(stream)),
    }
}
