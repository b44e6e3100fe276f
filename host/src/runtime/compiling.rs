//! Compiles in flight, one per module hash. Jobs that need the same module
//! the runtime has not compiled yet, at the same time (a burst of requests
//! for a new job), wait for one fetch and one compile instead of each
//! fetching the bytes and compiling them: the first asker fetches; when its
//! fetch or compile fails, or it is cancelled, the next waiter tries with
//! its own fetch. An entry lives only while someone is at it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use wasmtime::component::{Component, ComponentExportIndex};

/// A job's compiled code, as its compile left it (before linking).
#[derive(Clone)]
pub struct Compiled {
    pub component: Component,
    /// The job's `run` export.
    pub run: ComponentExportIndex,
    /// Cranelift code (else baseline code awaiting its upgrade).
    pub optimized: bool,
}

/// What one compile attempt is shared through.
pub type Slot = Arc<OnceCell<Compiled>>;

/// The compiles under way, by module hash.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<[u8; 32], Slot>>);

impl InFlight {
    /// The slot of `sha`: the one others are waiting on, or a new one.
    pub fn slot(&self, sha: &[u8; 32]) -> Slot {
        match self.0.lock() {
            Ok(mut map) => map.entry(*sha).or_default().clone(),
            // A poisoned table only loses the sharing, not the compile.
            Err(_) => Slot::default(),
        }
    }

    /// Drops `slot` from the table if it still stands for `sha`; waiters
    /// holding it keep it.
    pub fn forget(&self, sha: &[u8; 32], slot: &Slot) {
        if let Ok(mut map) = self.0.lock() {
            if map.get(sha).is_some_and(|s| Arc::ptr_eq(s, slot)) {
                map.remove(sha);
            }
        }
    }

    /// Compiles under way.
    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Why preparing a job through a fetch failed.
#[derive(Debug)]
pub enum PrepareError<E> {
    /// The fetch of the module's bytes failed.
    Fetch(E),
    /// The bytes did not compile or link.
    Load(crate::error::LoadError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn askers_of_one_hash_share_a_slot_until_it_is_forgotten() {
        let table = InFlight::default();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let first = table.slot(&a);
        assert!(Arc::ptr_eq(&first, &table.slot(&a)));
        assert!(!Arc::ptr_eq(&first, &table.slot(&b)));
        assert_eq!(table.len(), 2);
        // Forgetting a slot that no longer stands for the hash leaves the new one.
        table.forget(&a, &first);
        let second = table.slot(&a);
        table.forget(&a, &first);
        assert!(Arc::ptr_eq(&second, &table.slot(&a)));
        table.forget(&a, &second);
        table.forget(&b, &table.slot(&b));
        assert_eq!(table.len(), 0);
    }
}
