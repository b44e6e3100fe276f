//! The register's statistics in the Prometheus text format, served over
//! plain HTTP on `--metrics-listen` (loopback by default; it exposes counts,
//! not control).

use crate::register::Register;
use regcenter_protocol::stats::{Counter, Stats};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn counter_lines(out: &mut String, name: &str, labels: &str, c: &Counter) {
    let _ = writeln!(out, "regcenter_{name}_total{{{labels}}} {}", c.calls);
    let _ = writeln!(out, "regcenter_{name}_errors_total{{{labels}}} {}", c.errors);
    for (q, v) in [("0.5", c.latency.quantile(0.5)), ("0.99", c.latency.quantile(0.99))] {
        let _ = writeln!(out, "regcenter_{name}_latency_microseconds{{{labels},quantile=\"{q}\"}} {v}");
    }
    let _ = writeln!(out, "regcenter_{name}_latency_microseconds_max{{{labels}}} {}", c.latency.max_us);
}

/// Renders the per-master statistics.
pub fn render(masters_connected: usize, each: &BTreeMap<String, Stats>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP regcenter_masters_connected Authenticated masters.\n# TYPE regcenter_masters_connected gauge");
    let _ = writeln!(out, "regcenter_masters_connected {masters_connected}");
    let _ = writeln!(out, "# HELP regcenter_service_calls_total Service calls made on masters, by service and method.");
    let _ = writeln!(out, "# TYPE regcenter_service_calls_total counter");
    for (master, stats) in each {
        for (key, c) in &stats.calls {
            let (service, method) = key.split_once('.').unwrap_or((key, ""));
            let labels = format!("master=\"{}\",service=\"{}\",method=\"{}\"", esc(master), esc(service), esc(method));
            counter_lines(&mut out, "service_calls", &labels, c);
        }
    }
    let _ = writeln!(out, "# HELP regcenter_jobs_total Jobs run on masters.\n# TYPE regcenter_jobs_total counter");
    for (master, stats) in each {
        counter_lines(&mut out, "jobs", &format!("master=\"{}\"", esc(master)), &stats.jobs);
    }
    out
}

/// Serves `GET /metrics` until the listener fails.
pub async fn serve(listener: TcpListener, register: Register) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { return };
        let register = register.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = if path == "/metrics" || path == "/" {
                let (each, _) = register.stats();
                ("200 OK", render(register.connected_masters().len(), &each))
            } else {
                ("404 Not Found", "not found; try /metrics\n".to_string())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
