//! Binary message bodies: big-endian integers, strings with a u16 length,
//! and a UTF-8 rest. Used for the messages every job sends (its start, a
//! relayed item, a relayed done), whose JSON text would otherwise be
//! escaped inside JSON and parsed back on every hop.

use crate::message::ProtocolError;

/// Appends `s` with its u16 length; `None` when it is longer than that.
pub fn put_str16(out: &mut Vec<u8>, s: &str) -> Option<()> {
    let len = u16::try_from(s.len()).ok()?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Some(())
}

/// Reads a body front to back; every shortfall is a [`ProtocolError::Malformed`]
/// naming the message and the field.
pub struct Cursor<'a> {
    kind: &'static str,
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor over the body of a `kind` message.
    pub fn new(kind: &'static str, body: &'a [u8]) -> Self {
        Self { kind, rest: body }
    }

    /// A malformed-body error for this cursor's message.
    pub fn malformed(&self, message: String) -> ProtocolError {
        ProtocolError::Malformed { kind: self.kind, message }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ProtocolError> {
        if self.rest.len() < n {
            return Err(self.malformed(format!("{what}: {n} bytes needed, {} left", self.rest.len())));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// A big-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, ProtocolError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, ProtocolError> {
        Ok(self.take(1, what)?[0])
    }

    /// A big-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, ProtocolError> {
        let b = self.take(8, what)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    /// A string with a u16 length.
    pub fn str16(&mut self, what: &str) -> Result<String, ProtocolError> {
        let len = self.take(2, what)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let bytes = self.take(len, what)?;
        self.utf8(bytes, what)
    }

    /// Everything left, as UTF-8 text.
    pub fn rest_str(mut self, what: &str) -> Result<String, ProtocolError> {
        let bytes = std::mem::take(&mut self.rest);
        self.utf8(bytes, what)
    }

    /// Everything left must be exactly `N` bytes.
    pub fn rest_fixed<const N: usize>(self, what: &str) -> Result<[u8; N], ProtocolError> {
        self.rest.try_into().map_err(|_| self.malformed(format!("{what}: expected {N} bytes, got {}", self.rest.len())))
    }

    fn utf8(&self, bytes: &[u8], what: &str) -> Result<String, ProtocolError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| self.malformed(format!("{what} is not UTF-8")))
    }
}
