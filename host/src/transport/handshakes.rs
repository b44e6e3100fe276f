//! Bounded TLS handshakes on a QUIC server. A fleet of peers connecting at
//! once (masters reconnecting to a restarted register) queues behind a few
//! handshakes in progress instead of running all of them together: each
//! handshake's keys and buffers are freed before the next ones start, so
//! the allocator's high-water mark, which the process keeps as resident
//! memory, is that of the few. While every slot is taken, a peer that has
//! not yet proved its source address is sent a stateless QUIC Retry before
//! it may queue, so peers with forged addresses cannot hold the queue. A
//! peer waits in the queue for less than a client waits for a silent server
//! (half its idle timeout): past that it is refused at once and dials
//! again, where a slot given to a peer that has already given up would sit
//! in a handshake nobody answers.

use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a handshake gave no connection.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// No slot freed within the queue's patience (the peer is refused).
    #[error("no handshake slot freed within {0:?}; refused")]
    NoSlot(Duration),
    /// The handshake did not complete within the patience.
    #[error("the handshake did not complete within {0:?}")]
    TimedOut(Duration),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Failed(#[from] quinn::ConnectionError),
}

/// Handshake slots of one server endpoint.
pub struct HandshakeSlots {
    slots: Semaphore,
    /// How long a peer may wait for a slot ([`queue_patience`]).
    queue_patience: Duration,
    /// How long a handshake may take once it has a slot.
    patience: Duration,
}

impl HandshakeSlots {
    /// At most `n` handshakes at once (at least one), on a server whose
    /// peers use `idle_timeout`; each handshake gets `patience`.
    pub fn new(n: usize, idle_timeout: Duration, patience: Duration) -> Self {
        Self { slots: Semaphore::new(n.max(1)), queue_patience: queue_patience(idle_timeout, patience), patience }
    }

    /// The incoming connection back, or `None` when it was answered with a
    /// Retry (every slot taken, its address not validated yet): the peer
    /// comes back with a token that proves its address, and then queues.
    pub fn admit(&self, incoming: quinn::Incoming) -> Option<quinn::Incoming> {
        if self.slots.available_permits() == 0 && !incoming.remote_address_validated() && incoming.may_retry() {
            let _ = incoming.retry();
            return None;
        }
        Some(incoming)
    }

    /// The handshake, once a slot is free; the slot is held until it ends.
    /// The wait for the slot gets the queue's patience (then the peer is
    /// refused: dropping an `Incoming` refuses it) and the handshake itself
    /// its own, so a peer queued behind a stalled handshake still has all
    /// of it once its turn comes.
    pub async fn handshake(&self, incoming: quinn::Incoming) -> Result<quinn::Connection, HandshakeError> {
        let (queue, patience) = (self.queue_patience, self.patience);
        // The semaphore is never closed, so only the timeout ends the wait.
        let _slot = tokio::time::timeout(queue, self.slots.acquire()).await.map_err(|_| HandshakeError::NoSlot(queue))?;
        Ok(tokio::time::timeout(patience, incoming).await.map_err(|_| HandshakeError::TimedOut(patience))??)
    }
}

/// How long a peer may wait for a handshake slot on a server whose peers
/// use `idle_timeout`: half of it, and no longer than `limit`.
fn queue_patience(idle_timeout: Duration, limit: Duration) -> Duration {
    (idle_timeout / 2).min(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_peer_waits_less_than_a_client_waits_for_a_silent_server() {
        assert_eq!(queue_patience(Duration::from_secs(6), Duration::from_secs(10)), Duration::from_secs(3));
        assert_eq!(queue_patience(Duration::from_secs(6), Duration::from_secs(1)), Duration::from_secs(1));
    }
}
