//! The UDP sockets under every QUIC endpoint (register, master, operator,
//! the bench's floor): bound here with kernel buffers sized for bursts. With
//! the kernel default (~208 KiB on Linux) a register answering hundreds of
//! jobs at once overflows its receive buffer, and every dropped datagram
//! costs a loss-detection delay and a retransmission.

use std::net::SocketAddr;
use std::sync::Arc;

/// Requested send and receive buffer per socket; the kernel caps it (Linux:
/// `net.core.rmem_max` / `wmem_max`) and a smaller grant is not an error.
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// A UDP socket bound to `addr` with [`SOCKET_BUFFER_BYTES`] buffers.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        // Dual-stack where the system allows it, as quinn's own binding does.
        let _ = socket.set_only_v6(false);
    }
    // Best effort: a capped or refused size leaves the kernel's default.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A QUIC endpoint on a socket from [`bind`]: a server when `server` is
/// given, otherwise a client-only endpoint.
pub fn endpoint(addr: SocketAddr, config: quinn::EndpointConfig, server: Option<quinn::ServerConfig>) -> std::io::Result<quinn::Endpoint> {
    let runtime: Arc<dyn quinn::Runtime> = quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime (quinn needs tokio)"))?;
    quinn::Endpoint::new(config, server, bind(addr)?, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_get_more_than_the_default_receive_buffer_where_allowed() {
        let sock = bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let granted = socket2::SockRef::from(&sock).recv_buffer_size().unwrap();
        // Linux reports twice the granted size and caps it at rmem_max.
        match std::fs::read_to_string("/proc/sys/net/core/rmem_max").ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(max) => assert!(granted >= SOCKET_BUFFER_BYTES.min(max), "granted {granted}, rmem_max {max}"),
            None => assert!(granted > 0),
        }
        let ep = endpoint(SocketAddr::from(([127, 0, 0, 1], 0)), quinn::EndpointConfig::default(), None).unwrap();
        assert_ne!(ep.local_addr().unwrap().port(), 0);
    }
}
