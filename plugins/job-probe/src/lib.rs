//! A job that tries everything a job must not reach through Rust std (WASI
//! p2 underneath) and emits one item per attempt: `{"probe": …, "result":
//! …}` where the result is what the sandbox answered, or `"ALLOWED"`.

struct JobProbe;

fn item(probe: &str, result: String) -> String {
    let escaped: String = result.chars().flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] }).collect();
    format!("{{\"probe\":\"{probe}\",\"result\":\"{escaped}\"}}")
}

fn outcome<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ALLOWED".into(),
        Err(e) => e.to_string(),
    }
}

impl Guest for JobProbe {
    fn run(_input: String) -> Result<(), String> {
        job_sdk::emit(&item("read /etc/passwd", outcome(std::fs::read("/etc/passwd"))))?;
        job_sdk::emit(&item("list /", outcome(std::fs::read_dir("/"))))?;
        job_sdk::emit(&item("list .", outcome(std::fs::read_dir("."))))?;
        job_sdk::emit(&item("write /tmp/x", outcome(std::fs::write("/tmp/job-probe", b"x"))))?;
        let vars = std::env::vars().count();
        job_sdk::emit(&item("environment", if vars == 0 { "empty".into() } else { format!("ALLOWED ({vars} variables)") }))?;
        job_sdk::emit(&item("tcp 127.0.0.1:22", outcome(std::net::TcpStream::connect("127.0.0.1:22"))))?;
        job_sdk::emit(&item("udp bind", outcome(std::net::UdpSocket::bind("0.0.0.0:0"))))?;
        use std::net::ToSocketAddrs;
        job_sdk::emit(&item("lookup localhost", outcome(("localhost", 80).to_socket_addrs())))?;
        Ok(())
    }
}

job_sdk::job!(JobProbe);
