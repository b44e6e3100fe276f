//! Real processes: the `regcenter master` binary connected to a register,
//! killed with SIGKILL mid-job; the register's stream must end with
//! "master lost" (never hang, never report done) and other masters keep
//! working.

mod common;

use common::plugin;
use regcenter::master::{Master, MasterConfig};
use regcenter::register::{JobModule, Register, RegisterConfig, RegisterEvent, RemoteError, RemoteEvent};
use regcenter::JobLimits;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn killing_a_master_mid_job_ends_its_streams_with_master_lost() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Register::start(RegisterConfig::new("127.0.0.1:0".parse().unwrap(), dir.path())).await.unwrap();
    let mut events = reg.events();
    let child = Command::new(env!("CARGO_BIN_EXE_regcenter"))
        .args(["master", "--connect", &reg.local_addr().to_string(), "--service", "test-fixture", "--name", "m-proc"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("REGCENTER_CACHE_DIR", common::cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn regcenter master");
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let lines = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());

    tokio::time::timeout(PATIENCE, async {
        while reg.master("m-proc").is_none() {
            let _ = events.recv().await;
        }
    })
    .await
    .expect("the master process authenticates");

    // A second, in-process master that must not be affected.
    let other_registry = common::registry_with(&["hello-world"]).await;
    let mut cfg = MasterConfig::new(dir.path());
    cfg.node_id = Some("m-other".into());
    let other = Master::new(cfg, other_registry).unwrap();
    other.connect("127.0.0.1", reg.local_addr().port());

    let mut job = reg.run_on_master("m-proc", &JobModule::new(plugin("ticker")), "{}", JobLimits::default());
    let mut items = 0;
    while items < 2 {
        match tokio::time::timeout(PATIENCE, job.next()).await.expect("ticks") {
            Some(RemoteEvent::Item(_)) => items += 1,
            other => panic!("{other:?}"),
        }
    }
    child.0.kill().expect("SIGKILL the master");
    let _ = child.0.wait();
    let end = tokio::time::timeout(PATIENCE, async {
        loop {
            match job.next().await {
                Some(RemoteEvent::Item(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ends instead of hanging");
    match end {
        Some(RemoteEvent::Failed(RemoteError::MasterLost { master, .. })) => assert_eq!(master, "m-proc"),
        other => panic!("expected master lost, got {other:?}"),
    }
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(RegisterEvent::MasterDisconnected { id, .. }) = events.recv().await {
                if id == "m-proc" {
                    return;
                }
            }
        }
    })
    .await
    .expect("the register drops the master");
    assert!(reg.master("m-proc").is_none());

    tokio::time::timeout(PATIENCE, async {
        while reg.master("m-other").is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the other master is connected");
    let (_, outcome) = reg.run_on_master("m-other", &JobModule::new(plugin("greet")), "{}", JobLimits::default()).collect().await;
    assert_eq!(outcome, Ok(2), "other masters are unaffected");
    let printed = lines.join().unwrap();
    assert!(printed.iter().any(|l| l.starts_with("connected to 127.0.0.1:")), "{printed:?}");
}

#[test]
fn the_demo_joins_and_leaves_register_b_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_regcenter"))
        .args(["demo", "--duration", "22"])
        .env("REGCENTER_CACHE_DIR", common::cache_dir())
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("told 1 master(s) to join"), "{text}");
    assert!(text.contains("[B] master demo-master authenticated"), "{text}");
    assert!(text.contains("told 1 master(s) to leave"), "{text}");
    assert!(text.contains("[B] master demo-master disconnected"), "{text}");
    assert!(text.contains("[B] demo-master: done (2 items)"), "{text}");
    assert!(text.contains("summary: A ran"), "{text}");
}

/// Whether process `pid` has ended (gone, or a zombie not yet reaped).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) == Some("Z"),
        Err(_) => true,
    }
}

#[tokio::test]
async fn a_server_bound_to_its_parent_ends_when_the_parent_is_killed() {
    // As the bench starts its register and floor servers: a shell stands in
    // for the bench, starts a register bound to itself, and is then killed
    // outright, with no chance to kill its child.
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{}=$$ \"$0\" register --listen 127.0.0.1:0 --data-dir \"$1\" & echo \"pid $!\"; wait", regcenter::parent::EXIT_WITH_PARENT);
    let shell = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_regcenter")])
        .arg(dir.path())
        .env("REGCENTER_CACHE_DIR", common::cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let mut shell = Killed(shell);
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = shell.0.stdout.take().unwrap();
    // The register writes to the same pipe: it reaches its end only when
    // the register is gone too.
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let (mut pid, mut listening) = (None, false);
    let deadline = std::time::Instant::now() + PATIENCE;
    while pid.is_none() || !listening {
        let line = lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).expect("the register's pid and address");
        if let Some(p) = line.strip_prefix("pid ") {
            pid = p.trim().parse::<u32>().ok();
        }
        listening |= line.starts_with("register listening on");
    }
    let pid = pid.unwrap();
    assert!(!ended(pid), "the register runs");

    shell.0.kill().expect("SIGKILL the shell");
    let _ = shell.0.wait();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !ended(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = ended(pid);
    if !gone {
        // Clean up what the test started before failing.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(gone, "the register outlived the process that started it");
    reader.join().unwrap();
}
