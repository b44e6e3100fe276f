//! Job admission: what a master agrees to run. A policy may restrict jobs to
//! an allow-list of module hashes, to jobs arriving through certain
//! registers, and to modules signed by trusted operator keys (ed25519, via
//! ring). Operators sign with a [`JobSigner`], whose key the data dir keeps
//! (mode 0600). Checks happen before the module is fetched or compiled.

use regcenter_protocol::admission::{signed_message, JobSignature, Refusal};
use crate::runtime::{hex, unhex};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use std::collections::HashSet;

/// A key, hash or signature given as text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// Not lowercase/uppercase hex of the expected length.
    #[error("{what}: expected {bytes} bytes as hex, got {got:?}")]
    BadHex {
        /// What was being parsed.
        what: &'static str,
        /// The expected length in bytes.
        bytes: usize,
        /// The text (cut to 80 characters).
        got: String,
    },
    /// The signing key file is not an ed25519 PKCS#8 document.
    #[error("signing key: {0}")]
    BadKey(String),
}

/// Parses `N` bytes of hex, naming `what` when it does not.
pub fn parse_hex<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], AdmissionError> {
    let text = text.trim();
    unhex(text).ok_or_else(|| AdmissionError::BadHex { what, bytes: N, got: text.chars().take(80).collect() })
}

/// An operator's ed25519 signing key (the data dir keeps one:
/// [`crate::transport::datadir::DataDir::job_signing_key`]).
pub struct JobSigner {
    pair: Ed25519KeyPair,
}

impl JobSigner {
    /// The key in a PKCS#8 document.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, AdmissionError> {
        Ed25519KeyPair::from_pkcs8(der).map(|pair| Self { pair }).map_err(|e| AdmissionError::BadKey(format!("not an ed25519 PKCS#8 key ({e})")))
    }

    /// The public key, hex: what masters are given with `--trust-job-key`.
    pub fn public_key_hex(&self) -> String {
        hex(self.pair.public_key().as_ref())
    }

    /// Signs a module by its SHA-256.
    pub fn sign(&self, sha256: &[u8; 32]) -> JobSignature {
        JobSignature { key: self.public_key_hex(), sig: hex(self.pair.sign(&signed_message(sha256)).as_ref()) }
    }
}

/// What a master runs. The default admits every job from every register it
/// is connected to (its tokens and TLS already authenticate those).
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Module hashes allowed; empty: any.
    pub hashes: HashSet<[u8; 32]>,
    /// Registers (`host:port` as dialled) jobs may come through; empty: any.
    pub registers: HashSet<String>,
    /// Public keys whose signatures admit a job; empty: no signature needed.
    pub keys: Vec<[u8; 32]>,
}

impl Admission {
    /// Whether this policy restricts anything.
    pub fn is_open(&self) -> bool {
        self.hashes.is_empty() && self.registers.is_empty() && self.keys.is_empty()
    }

    /// The policy in words (`regcenter master` prints it); `None` when open.
    pub fn summary(&self) -> Option<String> {
        if self.is_open() {
            return None;
        }
        let mut parts = Vec::new();
        if !self.hashes.is_empty() {
            parts.push(format!("{} allowed job hash(es)", self.hashes.len()));
        }
        if !self.registers.is_empty() {
            let mut registers: Vec<&str> = self.registers.iter().map(String::as_str).collect();
            registers.sort_unstable();
            parts.push(format!("jobs only through {}", registers.join(", ")));
        }
        if !self.keys.is_empty() {
            parts.push(format!("signed jobs only ({} trusted key(s))", self.keys.len()));
        }
        Some(parts.join("; "))
    }

    /// Checks a job arriving through `register` for module `sha256`.
    pub fn check(&self, register: &str, sha256: &[u8; 32], signature: Option<&JobSignature>) -> Result<(), Refusal> {
        if !self.registers.is_empty() && !self.registers.contains(register) {
            return Err(Refusal::RegisterNotAllowed { register: register.to_string() });
        }
        if !self.hashes.is_empty() && !self.hashes.contains(sha256) {
            return Err(Refusal::HashNotAllowed { sha256: hex(sha256) });
        }
        if self.keys.is_empty() {
            return Ok(());
        }
        let sig = signature.ok_or(Refusal::Unsigned)?;
        let key_text: String = sig.key.chars().take(80).collect();
        let key = parse_hex::<32>("key", &sig.key).map_err(|_| Refusal::UntrustedKey { key: key_text.clone() })?;
        if !self.keys.contains(&key) {
            return Err(Refusal::UntrustedKey { key: key_text });
        }
        let bad = || Refusal::BadSignature { sha256: hex(sha256) };
        let raw = parse_hex::<64>("signature", &sig.sig).map_err(|_| bad())?;
        UnparsedPublicKey::new(&ED25519, key).verify(&signed_message(sha256), &raw).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> JobSigner {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        JobSigner::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn trusting(s: &JobSigner) -> Admission {
        Admission { keys: vec![parse_hex("key", &s.public_key_hex()).unwrap()], ..Default::default() }
    }

    #[test]
    fn the_open_policy_admits_everything() {
        let a = Admission::default();
        assert!(a.is_open());
        assert_eq!(a.summary(), None);
        assert_eq!(a.check("r:1", &[0; 32], None), Ok(()));
    }

    #[test]
    fn a_signature_by_a_trusted_key_admits_exactly_its_module() {
        let s = signer();
        let a = trusting(&s);
        let sig = s.sign(&[1; 32]);
        assert_eq!(a.check("r:1", &[1; 32], Some(&sig)), Ok(()));
        assert_eq!(a.check("r:1", &[2; 32], Some(&sig)), Err(Refusal::BadSignature { sha256: hex(&[2; 32]) }));
        assert_eq!(a.check("r:1", &[1; 32], None), Err(Refusal::Unsigned));
    }

    #[test]
    fn other_keys_and_forged_signatures_are_refused() {
        let (s, other) = (signer(), signer());
        let a = trusting(&s);
        let foreign = other.sign(&[1; 32]);
        assert_eq!(a.check("r:1", &[1; 32], Some(&foreign)), Err(Refusal::UntrustedKey { key: other.public_key_hex() }));
        // The trusted key's name on another key's signature.
        let forged = JobSignature { key: s.public_key_hex(), sig: foreign.sig.clone() };
        assert!(matches!(a.check("r:1", &[1; 32], Some(&forged)), Err(Refusal::BadSignature { .. })));
        let garbage = JobSignature { key: "zz".into(), sig: "00".into() };
        assert!(matches!(a.check("r:1", &[1; 32], Some(&garbage)), Err(Refusal::UntrustedKey { .. })));
        let short = JobSignature { key: s.public_key_hex(), sig: "00".into() };
        assert!(matches!(a.check("r:1", &[1; 32], Some(&short)), Err(Refusal::BadSignature { .. })));
    }

    #[test]
    fn hash_and_register_lists_restrict_independently() {
        let a = Admission { hashes: [[1; 32]].into(), registers: ["127.0.0.1:9".to_string()].into(), keys: vec![] };
        assert_eq!(a.check("127.0.0.1:9", &[1; 32], None), Ok(()));
        assert_eq!(a.check("127.0.0.1:9", &[2; 32], None), Err(Refusal::HashNotAllowed { sha256: hex(&[2; 32]) }));
        assert_eq!(a.check("10.0.0.1:9", &[1; 32], None), Err(Refusal::RegisterNotAllowed { register: "10.0.0.1:9".into() }));
    }

    #[test]
    fn hex_parsing_names_what_is_wrong() {
        assert_eq!(parse_hex::<2>("hash", "0aFF"), Ok([0x0a, 0xff]));
        let e = parse_hex::<2>("hash", "0g00").unwrap_err();
        assert!(e.to_string().contains("hash: expected 2 bytes"), "{e}");
        assert!(parse_hex::<2>("hash", "éé").is_err());
    }
}
