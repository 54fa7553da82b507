//! HTTPS for `maas serve`: a certificate chain and its private key read from PEM files
//! at start, served with rustls (TLS 1.2 and 1.3, ring's algorithms, no client
//! certificates). Bearer tokens then cross the network encrypted.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};

/// What a connection is read and written through: the TCP stream itself, or TLS over it.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The server's TLS settings, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Reads the certificate chain at `cert` (the server's certificate first, then its
    /// intermediates) and the private key at `key` (PKCS#8, PKCS#1 or SEC1), both PEM.
    /// The error says which file is wrong and why.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read a certificate from {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                cert.display()
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| {
                format!(
                    "the key in {} does not serve the certificate in {}: {e}",
                    key.display(),
                    cert.display()
                )
            })?;
        let mut config = config;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The connection `stream` once its handshake is done, or `None` if the handshake
    /// failed or took longer than `within`. A client that sent plain HTTP instead (its
    /// first byte is not a TLS handshake record's) is answered 400 in plain HTTP, saying
    /// so, rather than left with a closed connection to puzzle over.
    pub(super) async fn accept(
        &self,
        mut stream: tokio::net::TcpStream,
        within: std::time::Duration,
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
        match tokio::time::timeout(within, handshake).await {
            Ok(Some(stream)) => Some(Box::new(stream)),
            _ => None,
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
/// fails within `within`), else as it is.
pub(super) async fn wrap(
    tls: Option<&Tls>,
    stream: tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<Box<dyn Io>> {
    match tls {
        Some(tls) => tls.accept(stream, within).await,
        None => Some(Box::new(stream)),
    }
}
