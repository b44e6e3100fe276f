//! A stream of events whose producer is driven by its reader: the producer
//! (a job's run, a job's stream pump) is a future polled inside the
//! reader's own `next` and `reserve`, not a task of its own. That saves a
//! spawn per producer and a wake-up per event, and on a multi-threaded
//! runtime the hop to whichever worker would have run the task.
//!
//! Only the producer sends events, and it runs only inside the reader's
//! poll, so the channel is read without registering a waker on it: a waker
//! there would make the producer's sends wake the very task that is
//! polling it, which tokio treats as a yield (the task is queued again and
//! another worker is woken to steal it).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;

/// A producer polled by its reader.
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Events and, until it returns, the producer that sends them.
pub struct Driven<E> {
    events: mpsc::Receiver<E>,
    driver: Option<Driver>,
}

impl<E> Driven<E> {
    /// `events`, produced by `driver` (`None`: by someone else).
    pub fn new(events: mpsc::Receiver<E>, driver: Option<Driver>) -> Self {
        Self { events, driver }
    }

    /// Polls the producer once without a waker (the reader's next poll
    /// registers the ones that matter); true once it has returned.
    pub fn poll_once(&mut self) -> bool {
        if let Some(driver) = self.driver.as_mut() {
            if driver.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending() {
                return false;
            }
            self.driver = None;
        }
        true
    }

    /// The next event, driving the producer meanwhile; `None` once the
    /// producer has returned and every event was read.
    pub async fn next(&mut self) -> Option<E> {
        if self.driver.is_some() {
            let ready = std::future::poll_fn(|cx| {
                if let Ok(ev) = self.events.try_recv() {
                    return Poll::Ready(Some(ev));
                }
                let Some(driver) = self.driver.as_mut() else { return Poll::Ready(None) };
                match driver.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.driver = None;
                        Poll::Ready(None)
                    }
                    // Pending on something outside (a timer, the network,
                    // the input) that wakes this task.
                    Poll::Pending => match self.events.try_recv() {
                        Ok(ev) => Poll::Ready(Some(ev)),
                        Err(_) => Poll::Pending,
                    },
                }
            })
            .await;
            if ready.is_some() {
                return ready;
            }
        }
        // The producer has returned (or runs elsewhere): what it sent is in
        // the channel.
        self.events.recv().await
    }

    /// The next event if one is already waiting (never waits).
    pub fn try_next(&mut self) -> Option<E> {
        self.events.try_recv().ok()
    }

    /// A permit to send on `tx` (the producer's input), driving the
    /// producer while the input is full: it frees up only as the producer
    /// runs.
    pub async fn reserve<'a, T>(&mut self, tx: &'a mpsc::Sender<T>) -> Result<mpsc::Permit<'a, T>, mpsc::error::SendError<()>> {
        let Some(driver) = self.driver.as_mut() else { return tx.reserve().await };
        let first = tokio::select! {
            biased;
            permit = tx.reserve() => Some(permit),
            () = driver => None,
        };
        match first {
            Some(permit) => permit,
            None => {
                self.driver = None;
                tx.reserve().await
            }
        }
    }

    /// Hands a producer that has not returned to a task of its own (the
    /// reader is going away; outside a runtime it is dropped).
    pub fn finish_in_task(&mut self) {
        if let Some(driver) = self.driver.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(driver);
            }
        }
    }
}
