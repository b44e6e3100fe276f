//! What a master announces about each service it hosts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A service as the registry reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The registered name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Exported interfaces, fully qualified.
    pub interfaces: Vec<String>,
    /// Exported functions, `iface/name: func(…) -> …`.
    pub functions: Vec<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Number of instances.
    pub instances: usize,
}

