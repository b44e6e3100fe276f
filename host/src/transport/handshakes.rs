//! Bounded TLS handshakes on a QUIC server. A fleet of peers connecting at
//! once (masters reconnecting to a restarted register) queues behind a few
//! handshakes in progress instead of running all of them together: each
//! handshake's keys and buffers are freed before the next ones start, so
//! the allocator's high-water mark, which the process keeps as resident
//! memory, is that of the few. While every slot is taken, a peer that has
//! not yet proved its source address is sent a stateless QUIC Retry before
//! it may queue, so peers with forged addresses cannot hold the queue.

use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a handshake gave no connection.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// No slot freed within the patience.
    #[error("no handshake slot freed within {0:?}")]
    NoSlot(Duration),
    /// The handshake did not complete within the patience.
    #[error("the handshake did not complete within {0:?}")]
    TimedOut(Duration),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Failed(#[from] quinn::ConnectionError),
}

/// Handshake slots of one server endpoint.
pub struct HandshakeSlots(Semaphore);

impl HandshakeSlots {
    /// At most `n` handshakes at once (at least one).
    pub fn new(n: usize) -> Self {
        Self(Semaphore::new(n.max(1)))
    }

    /// The incoming connection back, or `None` when it was answered with a
    /// Retry (every slot taken, its address not validated yet): the peer
    /// comes back with a token that proves its address, and then queues.
    pub fn admit(&self, incoming: quinn::Incoming) -> Option<quinn::Incoming> {
        if self.0.available_permits() == 0 && !incoming.remote_address_validated() && incoming.may_retry() {
            let _ = incoming.retry();
            return None;
        }
        Some(incoming)
    }

    /// The handshake, once a slot is free; the slot is held until it ends.
    /// Waiting for the slot and the handshake itself each get `patience`
    /// (the register's auth timeout), so a peer queued behind a stalled
    /// handshake still has all of it once its turn comes.
    pub async fn handshake(&self, incoming: quinn::Incoming, patience: Duration) -> Result<quinn::Connection, HandshakeError> {
        // The semaphore is never closed, so only the timeout ends the wait.
        let _slot = tokio::time::timeout(patience, self.0.acquire()).await.map_err(|_| HandshakeError::NoSlot(patience))?;
        Ok(tokio::time::timeout(patience, incoming).await.map_err(|_| HandshakeError::TimedOut(patience))??)
    }
}
