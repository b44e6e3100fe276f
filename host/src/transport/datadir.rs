//! The data directory of an installation: a local CA (made with rcgen at
//! first use), one leaf certificate per register, the master and operator
//! tokens, a master's node id, and the stateless-reset key. Every file is
//! created atomically with mode 0600 (written to a temporary file, then
//! hard-linked into place, which fails if another process got there first —
//! then that process's file is read), so two registers started at once on
//! one data dir agree on the CA and the tokens.

use ring::rand::{SecureRandom, SystemRandom};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file could not be read or written.
    #[error("data dir {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A certificate or key could not be made or parsed.
    #[error("data dir {path}: {message}")]
    Crypto {
        /// The file concerned.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Which token list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Tokens masters present.
    Master,
    /// Tokens operators present (they can run code on masters).
    Operator,
}

impl TokenKind {
    fn file(self) -> &'static str {
        match self {
            TokenKind::Master => "master.tokens",
            TokenKind::Operator => "operator.tokens",
        }
    }
}

/// A register's certificate chain and key, PEM.
#[derive(Clone, Debug)]
pub struct CertPair {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The leaf's private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// A data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const JOB_KEY: &str = "job-signing.key";
const CA_NAME: &str = "regcenter local CA";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io { path: path.display().to_string(), source }
}

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS RNG failing is not recoverable; fall back to a time-seeded hash
    // would be worse than stopping, so this is the one place that may panic.
    SystemRandom::new().fill(&mut b).expect("the OS random number generator failed");
    b
}

/// A fresh random token: 32 bytes, hex.
pub fn random_token() -> String {
    crate::runtime::hex(&random_bytes::<32>())
}

impl DataDir {
    /// The directory at `root`, created (mode 0700) if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, DataDirError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        set_mode(&root, 0o700);
        Ok(Self { root })
    }

    /// `REGCENTER_HOME`, else the user's data directory.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("REGCENTER_HOME") {
            return PathBuf::from(p);
        }
        directories::ProjectDirs::from("", "", "regcenter")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".regcenter"))
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The content of `name`, creating it with `make()` if missing (atomically, 0600).
    fn get_or_create(&self, name: &str, make: impl FnOnce() -> Result<Vec<u8>, DataDirError>) -> Result<Vec<u8>, DataDirError> {
        let path = self.root.join(name);
        match fs::read(&path) {
            Ok(b) => return Ok(b),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(&path)(e)),
            Err(_) => {}
        }
        let bytes = make()?;
        write_new(&path, &bytes)?;
        fs::read(&path).map_err(io_err(&path))
    }

    /// The CA certificate (PEM), made at first use.
    pub fn ca_cert_pem(&self) -> Result<String, DataDirError> {
        self.ca().map(|(cert, _)| cert)
    }

    fn ca(&self) -> Result<(String, String), DataDirError> {
        let crypto = |path: &str, e: rcgen::Error| DataDirError::Crypto { path: path.to_string(), message: e.to_string() };
        // The key decides the CA: create it first, then the certificate from it.
        let key_pem = self.get_or_create(CA_KEY, || {
            let key = rcgen::KeyPair::generate().map_err(|e| crypto(CA_KEY, e))?;
            Ok(key.serialize_pem().into_bytes())
        })?;
        let key_pem = String::from_utf8_lossy(&key_pem).into_owned();
        let cert_pem = self.get_or_create(CA_CERT, || {
            let key = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| crypto(CA_KEY, e))?;
            let cert = ca_params().self_signed(&key).map_err(|e| crypto(CA_CERT, e))?;
            Ok(cert.pem().into_bytes())
        })?;
        Ok((String::from_utf8_lossy(&cert_pem).into_owned(), key_pem))
    }

    /// The leaf certificate of register `name`, signed by the local CA, with
    /// SANs localhost, 127.0.0.1, ::1 and `extra_names`. Made at first use.
    pub fn register_cert(&self, name: &str, extra_names: &[String]) -> Result<CertPair, DataDirError> {
        let (_, ca_key_pem) = self.ca()?;
        let crypto = |path: &str, e: rcgen::Error| DataDirError::Crypto { path: path.to_string(), message: e.to_string() };
        let key_file = format!("register-{name}.key");
        let cert_file = format!("register-{name}.pem");
        let key_pem = self.get_or_create(&key_file, || {
            let key = rcgen::KeyPair::generate().map_err(|e| crypto(&key_file, e))?;
            Ok(key.serialize_pem().into_bytes())
        })?;
        let key_pem = String::from_utf8_lossy(&key_pem).into_owned();
        let cert_pem = self.get_or_create(&cert_file, || {
            let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
            sans.extend(extra_names.iter().cloned());
            let params = rcgen::CertificateParams::new(sans).map_err(|e| crypto(&cert_file, e))?;
            let key = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| crypto(&key_file, e))?;
            let ca_key = rcgen::KeyPair::from_pem(&ca_key_pem).map_err(|e| crypto(CA_KEY, e))?;
            let issuer = rcgen::Issuer::new(ca_params(), ca_key);
            let cert = params.signed_by(&key, &issuer).map_err(|e| crypto(&cert_file, e))?;
            Ok(cert.pem().into_bytes())
        })?;
        Ok(CertPair { cert_pem: String::from_utf8_lossy(&cert_pem).into_owned(), key_pem })
    }

    /// The tokens of `kind`. For masters, a random token is generated at
    /// first use (there is no published default).
    pub fn tokens(&self, kind: TokenKind) -> Result<Vec<String>, DataDirError> {
        let bytes = self.get_or_create(kind.file(), || Ok(format!("{}\n", random_token()).into_bytes()))?;
        Ok(String::from_utf8_lossy(&bytes).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// Replaces the token list of `kind` (atomically, 0600).
    pub fn set_tokens(&self, kind: TokenKind, tokens: &[String]) -> Result<(), DataDirError> {
        let path = self.root.join(kind.file());
        let mut body = tokens.join("\n");
        body.push('\n');
        replace(&path, body.as_bytes())
    }

    /// Where the token list of `kind` lives (watched for changes).
    pub fn tokens_path(&self, kind: TokenKind) -> PathBuf {
        self.root.join(kind.file())
    }

    /// A master's node id: random, kept from first use.
    pub fn node_id(&self) -> Result<String, DataDirError> {
        let bytes = self.get_or_create("node-id", || Ok(format!("master-{}", &random_token()[..12]).into_bytes()))?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_string())
    }

    /// The operator's ed25519 job-signing key (PKCS#8), made at first use.
    pub fn job_signing_key(&self) -> Result<Vec<u8>, DataDirError> {
        self.get_or_create(JOB_KEY, || {
            let rng = ring::rand::SystemRandom::new();
            ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .map(|d| d.as_ref().to_vec())
                .map_err(|e| DataDirError::Crypto { path: JOB_KEY.into(), message: e.to_string() })
        })
    }

    /// The key for QUIC stateless resets, kept so a restarted register
    /// resets connections of its previous life at once.
    pub fn reset_key(&self) -> Result<[u8; 64], DataDirError> {
        let bytes = self.get_or_create("reset.key", || Ok(random_bytes::<64>().to_vec()))?;
        bytes.try_into().map_err(|_| DataDirError::Crypto { path: "reset.key".into(), message: "expected 64 bytes".into() })
    }
}

fn ca_params() -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, CA_NAME);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign, rcgen::KeyUsagePurpose::DigitalSignature];
    p
}

fn temp_path(path: &Path) -> PathBuf {
    let n = u64::from_le_bytes(random_bytes::<8>());
    path.with_extension(format!("tmp{n:016x}"))
}

fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, DataDirError> {
    let tmp = temp_path(path);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io_err(&tmp))?;
    Ok(tmp)
}

/// Creates `path` with `bytes` unless it exists (then leaves it).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let tmp = write_temp(path, bytes)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Replaces `path` with `bytes` atomically.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let tmp = write_temp(path, bytes)?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("regcenter-datadir-{tag}-{}", random_token()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn tokens_are_generated_once_and_private() {
        let d = DataDir::open(tmpdir("tokens")).unwrap();
        let a = d.tokens(TokenKind::Master).unwrap();
        let b = d.tokens(TokenKind::Master).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.tokens_path(TokenKind::Master)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        d.set_tokens(TokenKind::Master, &["x".into(), "y".into()]).unwrap();
        assert_eq!(d.tokens(TokenKind::Master).unwrap(), ["x", "y"]);
        let _ = fs::remove_dir_all(d.path());
    }

    #[test]
    fn concurrent_first_use_agrees_on_one_ca_and_token() {
        let root = tmpdir("race");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let d = DataDir::open(&root).unwrap();
                    (d.ca_cert_pem().unwrap(), d.tokens(TokenKind::Master).unwrap())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn the_register_cert_is_signed_by_the_local_ca() {
        let d = DataDir::open(tmpdir("cert")).unwrap();
        let pair = d.register_cert("main", &["example.test".into()]).unwrap();
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(d.register_cert("main", &[]).unwrap().cert_pem, pair.cert_pem, "kept");
        let node = d.node_id().unwrap();
        assert!(node.starts_with("master-"));
        assert_eq!(d.node_id().unwrap(), node);
        assert_eq!(d.reset_key().unwrap(), d.reset_key().unwrap());
        let _ = fs::remove_dir_all(d.path());
    }
}
