//! The register's table of authenticated masters: one entry per node id
//! (the newest connection wins), with address, connection time, services,
//! load, and the channel to its control stream.

use crate::runtime::service::ServiceInfo;
use regcenter_protocol::message::Command;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio::sync::mpsc;

/// A connected master, as queries report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterInfo {
    /// Its node id.
    pub id: String,
    /// Its address as seen by the register.
    pub address: String,
    /// When it authenticated (seconds since the Unix epoch).
    pub connected_since: u64,
    /// Its services.
    pub services: Vec<ServiceInfo>,
    /// Jobs in flight: those this register has open on it plus those the
    /// master reported running for other registers.
    pub in_flight: u32,
    /// Its job limit.
    pub max_jobs: u32,
}

/// One authenticated connection.
pub struct MasterConn {
    /// Node id.
    pub id: String,
    /// Unique per connection (tells a replaced connection from its successor).
    pub serial: u64,
    /// The QUIC connection.
    pub conn: quinn::Connection,
    /// Remote address.
    pub address: SocketAddr,
    /// Authentication time.
    pub connected_since: SystemTime,
    /// Announced services.
    pub services: RwLock<Vec<ServiceInfo>>,
    /// Jobs the master reported running for other registers (it does not
    /// report this register's own: see `master::load`).
    pub reported: AtomicU32,
    /// Jobs this register has open on it.
    pub open: AtomicU32,
    /// Its job limit.
    pub max_jobs: u32,
    /// Commands to write on its control stream.
    pub commands: mpsc::Sender<Box<Command>>,
    /// The call and job statistics it last reported.
    pub stats: RwLock<regcenter_protocol::stats::Stats>,
    /// Modules this master has shown it holds (it ran them without asking).
    pub modules: KnownModules,
}

/// The hashes of the last [`KNOWN_MODULES`] modules a peer (a master, for
/// the register; the register, for an operator) is known to hold. A job
/// whose module is known and whose input is closed ends its side of the
/// stream with the request, so the peer can drop the stream without asking
/// to stop sending (two frames less per job). A wrong guess (the peer
/// evicted it) costs one retry with the module.
#[derive(Default)]
pub struct KnownModules(std::sync::Mutex<std::collections::VecDeque<[u8; 32]>>);

/// Module hashes remembered per master (32 bytes each).
pub const KNOWN_MODULES: usize = 64;

impl KnownModules {
    /// Whether the master is known to hold `sha`.
    pub fn contains(&self, sha: &[u8; 32]) -> bool {
        self.0.lock().map(|q| q.contains(sha)).unwrap_or(false)
    }

    /// Notes that the master holds `sha`.
    pub fn insert(&self, sha: [u8; 32]) {
        if let Ok(mut q) = self.0.lock() {
            if !q.contains(&sha) {
                if q.len() >= KNOWN_MODULES {
                    q.pop_front();
                }
                q.push_back(sha);
            }
        }
    }

    /// Forgets `sha` (the master asked for it after all).
    pub fn remove(&self, sha: &[u8; 32]) {
        if let Ok(mut q) = self.0.lock() {
            q.retain(|s| s != sha);
        }
    }
}

impl MasterConn {
    /// Jobs in flight, as far as this register knows.
    pub fn load(&self) -> u32 {
        self.reported.load(Ordering::Relaxed).saturating_add(self.open.load(Ordering::Relaxed))
    }

    /// Whether it offers service `name` (or `name@version`).
    pub fn offers(&self, name: &str) -> bool {
        let (base, version) = name.rsplit_once('@').unwrap_or((name, ""));
        self.services
            .read()
            .map(|s| s.iter().any(|i| i.name == base && (version.is_empty() || i.version == version)))
            .unwrap_or(false)
    }

    /// The entry as queries report it.
    pub fn info(&self) -> MasterInfo {
        MasterInfo {
            id: self.id.clone(),
            address: self.address.to_string(),
            connected_since: self.connected_since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            services: self.services.read().map(|s| s.clone()).unwrap_or_default(),
            in_flight: self.load(),
            max_jobs: self.max_jobs,
        }
    }
}

/// All authenticated masters.
#[derive(Default)]
pub struct MasterTable {
    masters: RwLock<HashMap<String, Arc<MasterConn>>>,
}

impl MasterTable {
    /// Inserts `m`; returns the connection it replaces (same node id).
    pub fn insert(&self, m: Arc<MasterConn>) -> Option<Arc<MasterConn>> {
        self.masters.write().ok()?.insert(m.id.clone(), m)
    }

    /// Removes `id` if its entry is still connection `serial`.
    pub fn remove(&self, id: &str, serial: u64) -> bool {
        match self.masters.write() {
            Ok(mut m) if m.get(id).is_some_and(|c| c.serial == serial) => m.remove(id).is_some(),
            _ => false,
        }
    }

    /// The master `id`.
    pub fn get(&self, id: &str) -> Option<Arc<MasterConn>> {
        self.masters.read().ok()?.get(id).cloned()
    }

    /// Every master, ordered by id.
    pub fn all(&self) -> Vec<Arc<MasterConn>> {
        let mut v: Vec<_> = self.masters.read().map(|m| m.values().cloned().collect()).unwrap_or_default();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Service name -> ids of the masters offering it.
    pub fn services(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in self.all() {
            for s in m.services.read().map(|s| s.clone()).unwrap_or_default() {
                let ids = out.entry(s.name).or_default();
                if !ids.contains(&m.id) {
                    ids.push(m.id.clone());
                }
            }
        }
        out
    }
}
