//! QUIC transport and trust: the data directory (local CA, certificates,
//! tokens, node id, reset key), TLS 1.3 configs with the ring provider, trust
//! by CA, pinned fingerprint or (development only) none, transport
//! parameters, constant-time token checks, UDP sockets with
//! buffers sized for bursts, bounded handshakes on servers.

pub mod datadir;
pub mod handshakes;
pub mod stream;
pub mod tls;
pub mod udp;
