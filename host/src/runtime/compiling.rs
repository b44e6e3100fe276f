//! Compiles in flight, one per module hash. Jobs that need the same module
//! the runtime has not compiled yet, at the same time (a burst of requests
//! for a new job), wait for one fetch and one compile instead of each
//! fetching the bytes and compiling them: the first asker fetches; when its
//! fetch or compile fails, or it is cancelled, the next waiter tries with
//! its own fetch. An entry lives only while someone is at it.
//!
//! A waiter does not wait for another's fetch forever: where the bytes come
//! from a register that moves a job's stream only while its requester reads
//! it, a requester reading its jobs one after another would otherwise wait
//! on a fetch that waits on it. After [`FETCH_PATIENCE`] without the bytes
//! a waiter fetches and compiles on its own; a compile under way (bytes in
//! hand) is always waited for.

use crate::error::LoadError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use wasmtime::component::{Component, ComponentExportIndex};

/// How long an asker waits for another asker's fetch of the module's bytes
/// before fetching them itself.
pub const FETCH_PATIENCE: Duration = Duration::from_secs(2);

/// A job's compiled code, as its compile left it (before linking).
#[derive(Clone)]
pub struct Compiled {
    pub component: Component,
    /// The job's `run` export.
    pub run: ComponentExportIndex,
    /// Cranelift code (else baseline code awaiting its upgrade).
    pub optimized: bool,
}

/// One module's compile, shared by the askers of its hash.
#[derive(Default)]
pub struct Attempt {
    code: OnceCell<Compiled>,
    /// The current attempt has its bytes (only its compile is left).
    fetched: AtomicBool,
}

/// What one compile is shared through.
pub type Slot = Arc<Attempt>;

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
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Why preparing a job through a fetch failed.
#[derive(Debug)]
pub enum PrepareError<E> {
    /// The fetch of the module's bytes failed.
    Fetch(E),
    /// The bytes did not compile or link.
    Load(LoadError),
}

/// Marks an attempt as past its fetch; a failed or dropped compile clears
/// the mark, so the next asker's fetch is waited for with patience again.
struct FetchedMark<'a> {
    flag: &'a AtomicBool,
    keep: bool,
}

impl<'a> FetchedMark<'a> {
    fn set(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::Release);
        Self { flag, keep: false }
    }
}

impl Drop for FetchedMark<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.flag.store(false, Ordering::Release);
        }
    }
}

/// The code of `slot`'s module: the one another asker compiled, or this
/// asker's, from `fetch` then `compile`, when no one else is at it, when the
/// attempt before failed or was dropped, or when another's fetch takes over
/// [`FETCH_PATIENCE`] (then beside it, outside the slot).
pub async fn shared<E, F, Fut, C, CFut>(slot: &Attempt, fetch: F, compile: C) -> Result<Compiled, PrepareError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Arc<[u8]>, E>>,
    C: FnOnce(Arc<[u8]>) -> CFut,
    CFut: Future<Output = Result<Compiled, LoadError>>,
{
    // Used by exactly one of the two ways below.
    let parts = Mutex::new(Some((fetch, compile)));
    let take = || parts.lock().ok().and_then(|mut p| p.take()).ok_or_else(|| PrepareError::Load(LoadError::Instantiate { message: "job compile asked twice".into() }));
    let mine = AtomicBool::new(false);
    let in_slot = slot.code.get_or_try_init(|| async {
        mine.store(true, Ordering::Release);
        let (fetch, compile) = take()?;
        let bytes = fetch().await.map_err(PrepareError::Fetch)?;
        let mut mark = FetchedMark::set(&slot.fetched);
        let compiled = compile(bytes).await;
        mark.keep = compiled.is_ok();
        compiled.map_err(PrepareError::Load)
    });
    let patience = async {
        tokio::time::sleep(FETCH_PATIENCE).await;
        if mine.load(Ordering::Acquire) || slot.fetched.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        code = in_slot => code.cloned(),
        () = patience => {
            let (fetch, compile) = take()?;
            let bytes = fetch().await.map_err(PrepareError::Fetch)?;
            compile(bytes).await.map_err(PrepareError::Load)
        }
    }
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
