//! Message parsing and the session state machines: any frame body under any
//! kind byte decodes to a message or a typed error; a decoded message
//! re-encodes to bytes that decode to the same message; and every state
//! machine accepts or refuses any sequence of messages without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regcenter_protocol::frame;
use regcenter_protocol::message::{Decoder, Message};
use regcenter_protocol::session::{MasterControl, MasterJob, RegisterControl, RegisterJob};

fuzz_target!(|data: &[u8]| {
    // Split the input into frames: [kind, len, body…]*, so the fuzzer
    // steers kinds and body lengths directly.
    let mut wire = Vec::new();
    let mut rest = data;
    while let [kind, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        frame::write(&mut wire, *kind, &tail[..n]);
        rest = &tail[n..];
    }
    let mut dec = Decoder::new(1 << 20);
    dec.push(&wire);
    let mut msgs: Vec<Message> = Vec::new();
    while let Ok(Some(m)) = dec.next() {
        msgs.push(m);
    }
    for m in &msgs {
        let mut again = Decoder::new(1 << 20);
        again.push(&m.to_frame());
        let back = again.next().expect("a re-encoded message decodes").expect("whole");
        assert_eq!(&back, m, "round trip");
    }
    let (mut rc, mut mc, mut mj, mut rj) = (RegisterControl::default(), MasterControl::default(), MasterJob::default(), RegisterJob::default());
    for m in &msgs {
        let _ = rc.accept(m);
        let _ = mc.accept(m);
        let _ = mj.accept(m);
        let _ = rj.accept(m);
    }
});
