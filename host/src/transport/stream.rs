//! Messages over quinn streams: a reader that feeds the sans-IO decoder and
//! tells a clean end from a truncated or reset stream, and a writer.

use regcenter_protocol::message::{Decoder, Message, ProtocolError};

/// Application error codes on streams and connections.
pub mod codes {
    /// The requester cancelled the job.
    pub const CANCELLED: u32 = 1;
    /// The peer broke the protocol.
    pub const PROTOCOL: u32 = 2;
    /// Authentication failed.
    pub const AUTH_FAILED: u32 = 3;
    /// A newer connection took over this node id.
    pub const REPLACED: u32 = 4;
    /// Orderly shutdown / connection removed.
    pub const CLOSED: u32 = 5;
}

/// Why a stream could not be read or written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// The peer sent something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The connection is gone.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The peer reset or stopped the stream.
    #[error("stream reset by the peer (code {0})")]
    Reset(u64),
    /// The stream ended in the middle of a frame.
    #[error("stream ended in the middle of a frame ({0} bytes pending)")]
    Truncated(usize),
}

/// Reads whole messages from a receive stream.
pub struct MessageReader {
    recv: quinn::RecvStream,
    decoder: Decoder,
}

const READ_CHUNK: usize = 64 * 1024;

impl MessageReader {
    /// Wraps `recv`, refusing frames over `max_frame` bytes.
    pub fn new(recv: quinn::RecvStream, max_frame: usize) -> Self {
        Self { recv, decoder: Decoder::new(max_frame) }
    }

    /// The next message; `Ok(None)` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Message>, StreamError> {
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(Some(m));
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.decoder.push(&chunk.bytes),
                Ok(None) if self.decoder.pending() == 0 => return Ok(None),
                Ok(None) => return Err(StreamError::Truncated(self.decoder.pending())),
                Err(e) => return Err(read_error(e)),
            }
        }
    }

    /// Tells the peer to stop sending (cancellation).
    pub fn stop(&mut self, code: u32) {
        let _ = self.recv.stop(code.into());
    }

    /// Takes the end of the stream if it has already arrived, without
    /// waiting: a reader dropped before it saw the end makes quinn send
    /// STOP_SENDING (and the peer a RESET_STREAM back), two frames per job.
    pub async fn take_end(&mut self) {
        // One poll, no timer: what has arrived is taken, nothing is awaited.
        let mut read = std::pin::pin!(self.recv.read_chunk(READ_CHUNK, true));
        std::future::poll_fn(|cx| {
            let _ = std::future::Future::poll(read.as_mut(), cx);
            std::task::Poll::Ready(())
        })
        .await;
    }
}

fn read_error(e: quinn::ReadError) -> StreamError {
    match e {
        quinn::ReadError::Reset(code) => StreamError::Reset(code.into_inner()),
        quinn::ReadError::ConnectionLost(c) => StreamError::ConnectionLost(c.to_string()),
        other => StreamError::ConnectionLost(other.to_string()),
    }
}

/// The next message of a control stream, checked by `accept` (a session
/// state machine). On a protocol error the connection is closed with
/// [`codes::PROTOCOL`]. `Err` is why the control loop ends.
pub async fn next_control(
    reader: &mut MessageReader,
    conn: &quinn::Connection,
    accept: impl FnOnce(&Message) -> Result<(), ProtocolError>,
) -> Result<Message, String> {
    let msg = match reader.next().await {
        Ok(Some(m)) => m,
        Ok(None) => return Err("control stream closed".into()),
        Err(e) => {
            if let Some(r) = conn.close_reason() {
                return Err(r.to_string());
            }
            if matches!(e, StreamError::Protocol(_) | StreamError::Truncated(_)) {
                // Garbage, an oversized or cut frame: tell the peer why.
                conn.close(codes::PROTOCOL.into(), e.to_string().as_bytes());
            }
            return Err(e.to_string());
        }
    };
    if let Err(e) = accept(&msg) {
        conn.close(codes::PROTOCOL.into(), e.to_string().as_bytes());
        return Err(e.to_string());
    }
    Ok(msg)
}

/// Writes one message.
pub async fn write(send: &mut quinn::SendStream, msg: &Message) -> Result<(), StreamError> {
    let frame = msg.to_frame();
    send.write_all(&frame).await.map_err(write_error)
}

fn write_error(e: quinn::WriteError) -> StreamError {
    match e {
        quinn::WriteError::Stopped(code) => StreamError::Reset(code.into_inner()),
        quinn::WriteError::ConnectionLost(c) => StreamError::ConnectionLost(c.to_string()),
        other => StreamError::ConnectionLost(other.to_string()),
    }
}
