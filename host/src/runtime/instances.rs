//! A service's instances as a checkout pool: a call takes a free instance
//! for its duration and returns it afterwards. A caller that finds every
//! instance busy waits until one comes back, then takes whichever is free
//! when it runs again. An instance is never handed over to a waiting task
//! in turn: with a fair hand-over, the next caller in line got it while it
//! sat behind a whole run queue, the instance idle meanwhile, so one short
//! call went through per round of the queue while every other caller
//! waited (each holding its job's Store).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

/// The instances of one service.
pub struct Instances<T> {
    entries: Vec<Mutex<Entry<T>>>,
    /// Wakes one waiting caller whenever an instance comes back.
    returned: Notify,
    /// Where the next caller starts looking (round robin).
    next: AtomicUsize,
}

enum Entry<T> {
    Free(T),
    Lent,
    /// Lost (its call trapped and it could not be re-created): the next
    /// caller to take it creates it afresh.
    Missing,
}

/// An instance taken for one call; it goes back to the pool when dropped.
pub struct Lease<'a, T> {
    pool: &'a Instances<T>,
    index: usize,
    value: Option<T>,
}

impl<T> Instances<T> {
    /// A pool of `values`.
    pub fn new(values: Vec<T>) -> Self {
        let entries = values.into_iter().map(|v| Mutex::new(Entry::Free(v))).collect();
        Self { entries, returned: Notify::new(), next: AtomicUsize::new(0) }
    }

    /// How many instances the pool has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool has no instances at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&self, index: usize) -> MutexGuard<'_, Entry<T>> {
        // Nothing panics while holding it; a poisoned lock is still consistent.
        self.entries[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a free (or missing) instance if there is one now.
    pub fn try_take(&self) -> Option<Lease<'_, T>> {
        let n = self.entries.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|i| (start + i) % n).find_map(|index| {
            let mut entry = self.entry(index);
            match std::mem::replace(&mut *entry, Entry::Lent) {
                Entry::Free(v) => Some(Lease { pool: self, index, value: Some(v) }),
                Entry::Missing => Some(Lease { pool: self, index, value: None }),
                Entry::Lent => None,
            }
        })
    }

    /// Takes an instance, waiting until `until` for one to come back;
    /// `None` if none did in time.
    pub async fn take(&self, until: Instant) -> Option<Lease<'_, T>> {
        loop {
            // Registered before looking, so a return in between is not missed.
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(lease) = self.try_take() {
                return Some(lease);
            }
            if tokio::time::timeout_at(until.into(), returned).await.is_err() {
                return None;
            }
        }
    }
}

impl<T> Lease<'_, T> {
    /// The instance, created first with `create` if it is missing (a
    /// failed creation leaves it missing for the next caller).
    pub async fn get_or_create<E>(&mut self, create: impl AsyncFnOnce() -> Result<T, E>) -> Result<&mut T, E> {
        let value = match self.value.take() {
            Some(v) => v,
            None => create().await?,
        };
        Ok(self.value.insert(value))
    }

    /// Whether the instance must be created before use.
    pub fn is_missing(&self) -> bool {
        self.value.is_none()
    }

    /// Puts `value` in place of the instance (a re-created one).
    pub fn replace(&mut self, value: Option<T>) {
        self.value = value;
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        *self.pool.entry(self.index) = match self.value.take() {
            Some(v) => Entry::Free(v),
            None => Entry::Missing,
        };
        self.pool.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn callers_take_free_instances_in_turn_and_return_them_on_drop() {
        let pool = Instances::new(vec![1, 2]);
        let a = pool.try_take().expect("a free instance");
        let mut b = pool.try_take().expect("the other one");
        assert!(pool.try_take().is_none(), "both are lent");
        let (x, y) = (*a.value.as_ref().unwrap(), *b.value.as_ref().unwrap());
        assert_eq!((x + y, x != y), (3, true));
        b.replace(None); // lost
        drop(a);
        drop(b);
        let mut seen = Vec::new();
        for _ in 0..2 {
            let lease = pool.try_take().expect("both are back");
            seen.push(lease.value);
            std::mem::forget(lease); // keep it lent for the next take
        }
        seen.sort();
        assert_eq!(seen, vec![None, Some(x)], "the lost one comes back missing");
    }

    #[tokio::test]
    async fn a_missing_instance_is_created_by_its_next_taker() {
        let pool: Instances<u32> = Instances::new(vec![7]);
        let mut lease = pool.try_take().unwrap();
        lease.replace(None);
        drop(lease);
        let mut lease = pool.try_take().unwrap();
        assert!(lease.is_missing());
        let failed: Result<&mut u32, &str> = lease.get_or_create(async || Err("no")).await;
        assert_eq!(failed, Err("no"));
        assert!(lease.is_missing(), "a failed creation leaves it missing");
        assert_eq!(*lease.get_or_create(async || Ok::<_, ()>(8)).await.unwrap(), 8);
        assert_eq!(*lease.get_or_create(async || Ok::<_, ()>(9)).await.unwrap(), 8, "present: not created again");
    }

    #[tokio::test]
    async fn a_waiting_caller_gets_the_instance_when_it_comes_back_or_gives_up_in_time() {
        let pool = std::sync::Arc::new(Instances::new(vec![()]));
        let lease = pool.try_take().unwrap();
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.take(Instant::now() + Duration::from_secs(30)).await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "it waits while the instance is lent");
        drop(lease);
        assert!(waiter.await.unwrap(), "it got the returned instance");
        let held = pool.try_take().unwrap();
        assert!(pool.take(Instant::now() + Duration::from_millis(20)).await.is_none(), "no instance came back in time");
        drop(held);
    }

    #[tokio::test]
    async fn a_returned_instance_goes_to_whoever_asks_first_not_to_the_waiter_in_line() {
        let pool = std::sync::Arc::new(Instances::new(vec![()]));
        let lease = pool.try_take().unwrap();
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.take(Instant::now() + Duration::from_secs(30)).await.map(drop).is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(lease);
        // The waiter has been woken but has not run: a running caller takes it.
        let running = pool.try_take();
        assert!(running.is_some(), "a free instance is taken by the caller that is running");
        drop(running);
        assert!(waiter.await.unwrap(), "the waiter gets it once it is back again");
    }
}
