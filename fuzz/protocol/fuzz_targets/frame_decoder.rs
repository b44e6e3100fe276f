//! The stream decoder fed arbitrary bytes in arbitrary chunks: it returns
//! messages or a typed error, never panics, and never holds more than the
//! cap plus one chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regcenter_protocol::message::Decoder;

const CAP: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut dec = Decoder::new(CAP);
    // The first byte picks the chunk size, as a network would cut the bytes.
    for chunk in rest.chunks(usize::from(split).max(1)) {
        dec.push(chunk);
        loop {
            match dec.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                // An error is fatal for the stream: stop here, as the transport does.
                Err(_) => return,
            }
        }
        assert!(dec.pending() <= CAP + 4 + 256, "the decoder holds {} bytes", dec.pending());
    }
});
