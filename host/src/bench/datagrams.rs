//! UDP datagram counters of the machine (Linux `/proc/net/snmp`): how many
//! datagrams a round trip costs against its floor, and how many the kernel
//! dropped for a full receive buffer. Other processes' UDP traffic counts
//! too, so figures are per operation over many operations; on systems
//! without the file every figure is absent.

/// The counters read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpCounters {
    /// Datagrams sent.
    pub out: u64,
    /// Datagrams dropped because a socket's receive buffer was full.
    pub rcvbuf_drops: u64,
}

impl UdpCounters {
    /// The machine's counters now, `None` where they cannot be read.
    pub fn now() -> Option<Self> {
        parse(&std::fs::read_to_string("/proc/net/snmp").ok()?)
    }

    /// Counts since `earlier`.
    pub fn since(self, earlier: Self) -> Self {
        Self { out: self.out.saturating_sub(earlier.out), rcvbuf_drops: self.rcvbuf_drops.saturating_sub(earlier.rcvbuf_drops) }
    }
}

/// The `Udp:` header and value lines of `/proc/net/snmp`.
fn parse(snmp: &str) -> Option<UdpCounters> {
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> { values.get(names.iter().position(|n| *n == name)?)?.parse().ok() };
    Some(UdpCounters { out: field("OutDatagrams")?, rcvbuf_drops: field("RcvbufErrors")? })
}

/// Sums the datagrams of one kind of operation over alternating batches.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerOp {
    datagrams: u64,
    drops: u64,
    ops: u64,
    unreadable: bool,
}

impl PerOp {
    /// Runs one batch of `ops` operations (`batch`), counting its datagrams.
    pub async fn batch<T>(&mut self, ops: usize, batch: impl std::future::Future<Output = T>) -> T {
        let before = UdpCounters::now();
        let out = batch.await;
        match (before, UdpCounters::now()) {
            (Some(b), Some(a)) => {
                let d = a.since(b);
                self.datagrams += d.out;
                self.drops += d.rcvbuf_drops;
                self.ops += ops as u64;
            }
            _ => self.unreadable = true,
        }
        out
    }

    /// Datagrams per operation (rounded to 0.01); `None` without counters.
    pub fn per_op(&self) -> Option<f64> {
        (!self.unreadable && self.ops > 0).then(|| (self.datagrams as f64 / self.ops as f64 * 100.0).round() / 100.0)
    }

    /// Datagrams the kernel dropped for a full receive buffer during the
    /// batches; `None` without counters.
    pub fn rcvbuf_drops(&self) -> Option<u64> {
        (!self.unreadable && self.ops > 0).then_some(self.drops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
        Udp: 100 2 7 250 7 0\n\
        UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
        UdpLite: 0 0 0 0 0 0\n";

    #[test]
    fn the_udp_line_is_read_by_field_name() {
        assert_eq!(parse(SNMP), Some(UdpCounters { out: 250, rcvbuf_drops: 7 }));
        assert_eq!(parse("Udp: OutDatagrams\nUdp: x\n"), None);
        assert_eq!(parse(""), None);
        let later = UdpCounters { out: 260, rcvbuf_drops: 9 };
        assert_eq!(later.since(UdpCounters { out: 250, rcvbuf_drops: 7 }), UdpCounters { out: 10, rcvbuf_drops: 2 });
    }

    #[tokio::test]
    async fn a_batch_counts_the_datagrams_it_sent() {
        let mut p = PerOp::default();
        assert_eq!(p.per_op(), None);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sock.local_addr().unwrap();
        let sent = p.batch(1, async { (0..3).filter(|_| sock.send_to(b"x", to).is_ok()).count() }).await;
        assert_eq!(sent, 3);
        match UdpCounters::now() {
            // Other processes may send too: at least our three.
            Some(_) => assert!(p.per_op().unwrap() >= 3.0, "{:?}", p.per_op()),
            None => assert_eq!(p.per_op(), None),
        }
    }
}
