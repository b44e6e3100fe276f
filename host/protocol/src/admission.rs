//! Job admission, as the wire sees it: the signature a job may carry, the
//! exact bytes it signs, and why a master refuses to run a job. The
//! cryptography itself lives in the host; this module only defines what is
//! signed and what travels.

use serde::{Deserialize, Serialize};

/// The domain-separation prefix of the signed message: a signature made for
/// anything else can never pass as a job signature.
pub const SIGNING_CONTEXT: &[u8] = b"regcenter job signature v1\0";

/// The message an operator's ed25519 key signs for a job module: the
/// context, then the module's SHA-256. A signature admits the module, with
/// any input, on every master that trusts the key.
pub fn signed_message(sha256: &[u8; 32]) -> [u8; SIGNING_CONTEXT.len() + 32] {
    let mut out = [0u8; SIGNING_CONTEXT.len() + 32];
    out[..SIGNING_CONTEXT.len()].copy_from_slice(SIGNING_CONTEXT);
    out[SIGNING_CONTEXT.len()..].copy_from_slice(sha256);
    out
}

/// An ed25519 signature of a job module, with the key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSignature {
    /// The signer's public key, 32 bytes, lowercase hex.
    pub key: String,
    /// The signature of [`signed_message`], 64 bytes, lowercase hex.
    pub sig: String,
}

/// Why a master refuses to run a job under its admission policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Refusal {
    /// The module's hash is not on the master's allow-list.
    #[error("job {sha256} is not on this master's allow-list")]
    HashNotAllowed {
        /// The module's SHA-256 (hex).
        sha256: String,
    },
    /// The job came through a register the master does not take jobs from.
    #[error("jobs from register {register} are not allowed on this master")]
    RegisterNotAllowed {
        /// The register, as the master dialled it (`host:port`).
        register: String,
    },
    /// The master requires signed jobs and this one carries no signature.
    #[error("this master runs only signed jobs and the job is unsigned")]
    Unsigned,
    /// The job is signed by a key the master does not trust.
    #[error("the job is signed by key {key}, which this master does not trust")]
    UntrustedKey {
        /// The signer's public key (hex, as sent).
        key: String,
    },
    /// The signature does not verify against the module's hash.
    #[error("the job's signature does not verify for module {sha256}")]
    BadSignature {
        /// The module's SHA-256 (hex).
        sha256: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_is_the_context_then_the_hash() {
        let sha = [7u8; 32];
        let m = signed_message(&sha);
        assert!(m.starts_with(SIGNING_CONTEXT));
        assert_eq!(&m[SIGNING_CONTEXT.len()..], &sha);
    }

    #[test]
    fn refusals_name_their_cause_and_round_trip_as_json() {
        let r = Refusal::UntrustedKey { key: "ab".repeat(32) };
        assert!(r.to_string().contains(&"ab".repeat(32)));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"reason\":\"untrusted-key\""), "{json}");
        assert_eq!(serde_json::from_str::<Refusal>(&json).unwrap(), r);
    }
}
