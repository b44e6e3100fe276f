//! TLS 1.3 over QUIC with rustls and the ring provider only (installed
//! explicitly on every config, never process-wide), the protocol's ALPN, and
//! the ways a client may trust a register: a CA (the data dir's, or a file),
//! a pinned SHA-256 fingerprint of the register's certificate, or — for
//! development only, warned about on every connect — nothing.

use crate::transport::datadir::CertPair;
use regcenter_protocol::message::ALPN;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file holds no usable certificate or key.
    #[error("{what}: {message}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// A fingerprint is not 64 hex digits.
    #[error("invalid fingerprint '{0}': expected 64 hex digits (colons allowed)")]
    Fingerprint(String),
}

/// How a client decides to trust a register's certificate.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Certificates signed by these CAs (or these self-signed certificates).
    Roots(Vec<CertificateDer<'static>>),
    /// Exactly the certificate with this SHA-256 fingerprint.
    Fingerprint([u8; 32]),
    /// Anything. Development only; every connect logs a warning.
    Insecure,
}

impl Trust {
    /// Trust the certificates in a PEM text (a CA or a register's own cert).
    pub fn from_pem(pem: &str) -> Result<Self, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Pem { what: "trusted certificate", message: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::Pem { what: "trusted certificate", message: "no certificate in the PEM".into() });
        }
        Ok(Trust::Roots(certs))
    }

    /// Trust a pinned fingerprint given as hex (`ab12…` or `AB:12:…`).
    pub fn from_fingerprint(text: &str) -> Result<Self, TlsError> {
        let hex: String = text.chars().filter(|c| *c != ':').collect();
        crate::runtime::unhex::<32>(&hex).map(Trust::Fingerprint).ok_or_else(|| TlsError::Fingerprint(text.to_string()))
    }
}

/// The SHA-256 fingerprint of the first certificate in `pem`, lowercase hex.
pub fn fingerprint(pem: &str) -> Result<String, TlsError> {
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Pem { what: "certificate", message: e.to_string() })?;
    Ok(crate::runtime::hex(&crate::runtime::sha256(cert.as_ref())))
}

/// The one crypto provider: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Transport parameters, set deliberately (see [`transport`]).
#[derive(Clone, Copy, Debug)]
pub struct TransportSettings {
    /// Bidirectional streams the peer may open at once (the register opens
    /// one per job, so a master sets this from its job limit).
    pub max_bidi_streams: u32,
    /// A silent peer is dropped after this long.
    pub idle_timeout: Duration,
    /// Keepalive interval (well below the idle timeout).
    pub keepalive: Duration,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self { max_bidi_streams: 1024, idle_timeout: Duration::from_secs(6), keepalive: Duration::from_secs(2) }
    }
}

/// A quinn transport config from `s`.
pub fn transport(s: TransportSettings) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(s.max_bidi_streams.into())
        .max_concurrent_uni_streams(0u32.into())
        .keep_alive_interval(Some(s.keepalive));
    if let Ok(idle) = quinn::IdleTimeout::try_from(s.idle_timeout) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}

/// The QUIC server config of a register.
pub fn server_config(pair: &CertPair, settings: TransportSettings) -> Result<quinn::ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem { what: "register certificate", message: e.to_string() })?;
    let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).map_err(|e| TlsError::Pem { what: "register key", message: e.to_string() })?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(transport(settings));
    Ok(cfg)
}

/// The QUIC client config for `trust`.
pub fn client_config(trust: &Trust, settings: TransportSettings) -> Result<quinn::ClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut tls = match trust {
        Trust::Roots(certs) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs {
                roots.add(c.clone()).map_err(|e| TlsError::Config(format!("trusted certificate: {e}")))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Fingerprint(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin: Some(*pin), provider: provider() }))
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin: None, provider: provider() }))
            .with_no_client_auth(),
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(transport(settings));
    Ok(cfg)
}

/// Accepts the certificate whose SHA-256 equals `pin` (compared in constant
/// time), or any certificate when `pin` is `None` (insecure mode). Handshake
/// signatures are always verified.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            None => Ok(ServerCertVerified::assertion()),
            Some(pin) => {
                let got = crate::runtime::sha256(end_entity.as_ref());
                if bool::from(got.ct_eq(pin)) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "certificate fingerprint {} does not match the pinned {}",
                        crate::runtime::hex(&got),
                        crate::runtime::hex(pin)
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether `given` is one of `allowed`, comparing every candidate in
/// constant time (no early exit on the first byte that differs).
pub fn token_matches(given: &str, allowed: &[String]) -> bool {
    let mut ok = subtle::Choice::from(0u8);
    for t in allowed {
        // Lengths may leak (tokens are fixed-length random strings); contents do not.
        ok |= t.as_bytes().ct_eq(given.as_bytes());
    }
    bool::from(ok) && !given.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::datadir::DataDir;
    use std::net::SocketAddr;

    #[test]
    fn tokens_compare_exactly() {
        let allowed = vec!["secret-token".to_string(), "other".to_string()];
        assert!(token_matches("secret-token", &allowed));
        assert!(token_matches("other", &allowed));
        assert!(!token_matches("secret-toke", &allowed), "prefix");
        assert!(!token_matches("secret-token!", &allowed));
        assert!(!token_matches("", &allowed));
        assert!(!token_matches("", &[String::new()]), "an empty token never authenticates");
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        assert!(matches!(Trust::from_fingerprint(&hex), Ok(Trust::Fingerprint(p)) if p == [0xab; 32]));
        let colons = vec!["AB"; 32].join(":");
        assert!(matches!(Trust::from_fingerprint(&colons), Ok(Trust::Fingerprint(p)) if p == [0xab; 32]));
        assert!(Trust::from_fingerprint("abc").is_err());
    }

    async fn echo_once(trust: Trust, pair: &CertPair) -> Result<Vec<u8>, String> {
        let server_cfg = server_config(pair, TransportSettings::default()).map_err(|e| e.to_string())?;
        let server = quinn::Endpoint::server(server_cfg, "127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
        let addr: SocketAddr = server.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let conn = server.accept().await?.await.ok()?;
            let (mut send, mut recv) = conn.accept_bi().await.ok()?;
            let data = recv.read_to_end(1024).await.ok()?;
            send.write_all(&data).await.ok()?;
            send.finish().ok()?;
            conn.closed().await;
            Some(())
        });
        let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
        client.set_default_client_config(client_config(&trust, TransportSettings::default()).map_err(|e| e.to_string())?);
        let conn = client.connect(addr, "localhost").map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(b"ping").await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let out = recv.read_to_end(1024).await.map_err(|e| e.to_string())?;
        conn.close(0u32.into(), b"done");
        let _ = accept.await;
        Ok(out)
    }

    #[tokio::test]
    async fn clients_trust_by_ca_fingerprint_or_insecure_and_refuse_others() {
        let root = std::env::temp_dir().join(format!("regcenter-tls-{}", crate::transport::datadir::random_token()));
        let dir = DataDir::open(&root).unwrap();
        let pair = dir.register_cert("main", &[]).unwrap();
        let ca = Trust::from_pem(&dir.ca_cert_pem().unwrap()).unwrap();
        assert_eq!(echo_once(ca, &pair).await.unwrap(), b"ping");
        let pin = Trust::from_fingerprint(&fingerprint(&pair.cert_pem).unwrap()).unwrap();
        assert_eq!(echo_once(pin, &pair).await.unwrap(), b"ping");
        assert_eq!(echo_once(Trust::Insecure, &pair).await.unwrap(), b"ping");

        let wrong_pin = Trust::Fingerprint([7; 32]);
        let err = echo_once(wrong_pin, &pair).await.unwrap_err();
        assert!(err.contains("does not match the pinned"), "{err}");
        let other = DataDir::open(root.join("other")).unwrap();
        let foreign_ca = Trust::from_pem(&other.ca_cert_pem().unwrap()).unwrap();
        let err = echo_once(foreign_ca, &pair).await.unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
