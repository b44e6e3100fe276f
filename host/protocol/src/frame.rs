//! Length-prefixed frames, decoded in two steps like mini-redis: [`check`]
//! (is a whole frame here? how long?) then [`parse`] (split it). An
//! incomplete frame is a normal case (`Ok(None)`), not an error.
//!
//! Layout: `u32` big-endian length of what follows, then one kind byte, then
//! the body. The length is at least 1 and at most the decoder's cap.

/// Bytes of the length prefix.
pub const LEN_BYTES: usize = 4;
/// The default cap of one frame (length prefix excluded): large enough for a
/// job module at the default module-size limit plus its header.
pub const DEFAULT_MAX_FRAME: usize = (32 << 20) + 1024;

/// A frame that cannot be decoded. Each is fatal for the stream it came on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is over the cap (a peer trying to make us buffer).
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A length of zero: there is not even a kind byte.
    #[error("empty frame (length 0)")]
    Empty,
}

/// One raw frame: its kind byte and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame<'a> {
    /// The kind byte.
    pub kind: u8,
    /// The body.
    pub body: &'a [u8],
}

/// Whether `buf` starts with a whole frame: `Ok(Some(total bytes))`,
/// `Ok(None)` when more bytes are needed, or why the frame is invalid (known
/// as soon as the length prefix is in).
pub fn check(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..LEN_BYTES) else { return Ok(None) };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok((buf.len() >= LEN_BYTES + len).then_some(LEN_BYTES + len))
}

/// Splits a whole frame (as measured by [`check`]) into kind and body.
pub fn parse(frame: &[u8]) -> RawFrame<'_> {
    RawFrame { kind: frame[LEN_BYTES], body: &frame[LEN_BYTES + 1..] }
}

/// Appends a frame of `kind` with `body` to `out`.
pub fn write(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let len = u32::try_from(body.len() + 1).unwrap_or(u32::MAX);
    out.reserve(LEN_BYTES + 1 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// Starts a frame of `kind` whose body the caller appends, then [`finish`]es.
pub fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, kind]);
    at
}

/// Writes the length of the frame begun at `at`.
pub fn finish(out: &mut [u8], at: usize) {
    let len = u32::try_from(out.len() - at - LEN_BYTES).unwrap_or(u32::MAX);
    out[at..at + LEN_BYTES].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_frame_round_trips() {
        let mut buf = Vec::new();
        write(&mut buf, 7, b"hello");
        assert_eq!(check(&buf, 100), Ok(Some(10)));
        assert_eq!(parse(&buf), RawFrame { kind: 7, body: b"hello" });
    }

    #[test]
    fn truncated_input_needs_more_bytes() {
        let mut buf = Vec::new();
        write(&mut buf, 7, b"hello");
        for cut in 0..buf.len() {
            assert_eq!(check(&buf[..cut], 100), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let buf = [0xff, 0xff, 0xff, 0xff];
        assert_eq!(check(&buf, 1024), Err(FrameError::TooLarge { len: u32::MAX as usize, max: 1024 }));
    }

    #[test]
    fn zero_length_is_refused() {
        assert_eq!(check(&[0, 0, 0, 0], 1024), Err(FrameError::Empty));
    }

    #[test]
    fn begin_and_finish_measure_the_body() {
        let mut buf = Vec::new();
        let at = begin(&mut buf, 3);
        buf.extend_from_slice(b"abc");
        finish(&mut buf, at);
        assert_eq!(check(&buf, 100), Ok(Some(8)));
        assert_eq!(parse(&buf).body, b"abc");
    }

    #[test]
    fn two_frames_back_to_back_are_found_one_by_one() {
        let mut buf = Vec::new();
        write(&mut buf, 1, b"a");
        write(&mut buf, 2, b"bc");
        let n = check(&buf, 100).unwrap().unwrap();
        assert_eq!(parse(&buf[..n]).kind, 1);
        let rest = &buf[n..];
        let m = check(rest, 100).unwrap().unwrap();
        assert_eq!(parse(&rest[..m]), RawFrame { kind: 2, body: b"bc" });
    }
}
