//! One compute job at a time per model: a queue per key (a run's name, or `style`), with each
//! job's place reported, a bound on the waiting jobs per model (429 when it is reached) and on
//! the jobs of all models together (503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ApiResult};

/// Bounds of the queues.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Jobs that may wait behind the running one, per model.
    pub waiting_per_model: usize,
    /// Jobs running or waiting, all models together.
    pub total: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self { waiting_per_model: 4, total: 32 }
    }
}

struct Lane {
    gate: Arc<Semaphore>,
    /// Jobs holding or awaiting `gate`.
    jobs: usize,
}

#[derive(Default)]
struct Lanes {
    lanes: HashMap<String, Lane>,
    total: usize,
}

/// The queues of all models.
#[derive(Clone, Default)]
pub struct Queues {
    inner: Arc<Mutex<Lanes>>,
    limits: QueueLimits,
}

/// A place in a model's queue; [`Ticket::ready`] waits for the turn. Dropping a ticket (or the
/// turn it became) leaves the queue.
pub struct Ticket {
    queues: Queues,
    key: String,
    gate: Arc<Semaphore>,
    /// Jobs ahead of this one when it joined (0: it runs at once).
    pub position: usize,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("key", &self.key).field("position", &self.position).finish()
    }
}

/// The turn of a job: the model is its own while this lives.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    _ticket: Ticket,
}

impl Queues {
    pub fn new(limits: QueueLimits) -> Self {
        Self { inner: Arc::default(), limits }
    }

    /// Joins `key`'s queue, or says why not (the queue or the server is full).
    pub fn join(&self, key: &str) -> ApiResult<Ticket> {
        let mut lanes = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let jobs = lanes.lanes.get(key).map_or(0, |l| l.jobs);
        if jobs > self.limits.waiting_per_model {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue",
                format!("{key}: the queue is full (one job running, {} waiting); try again later", jobs - 1),
            );
            e.queue_length = Some(jobs);
            return Err(e);
        }
        if lanes.total >= self.limits.total {
            let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue", format!("the server is busy ({} jobs running or waiting); try again later", lanes.total));
            e.queue_length = Some(lanes.total);
            return Err(e);
        }
        let lane = lanes.lanes.entry(key.to_string()).or_insert_with(|| Lane { gate: Arc::new(Semaphore::new(1)), jobs: 0 });
        let position = lane.jobs;
        lane.jobs += 1;
        let gate = lane.gate.clone();
        lanes.total += 1;
        Ok(Ticket { queues: self.clone(), key: key.to_string(), gate, position })
    }

    /// Jobs running or waiting, per model that has any.
    pub fn lengths(&self) -> std::collections::BTreeMap<String, usize> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).lanes.iter().map(|(k, l)| (k.clone(), l.jobs)).collect()
    }

    /// Jobs running or waiting for `key`.
    pub fn length(&self, key: &str) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).lanes.get(key).map_or(0, |l| l.jobs)
    }
}

impl Ticket {
    /// Waits until the model is free.
    pub async fn ready(self) -> Turn {
        let permit = self.gate.clone().acquire_owned().await.expect("queue gates are never closed");
        Turn { _permit: permit, _ticket: self }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut lanes = self.queues.inner.lock().unwrap_or_else(|e| e.into_inner());
        lanes.total -= 1;
        if let Some(lane) = lanes.lanes.get_mut(&self.key) {
            lane.jobs -= 1;
            if lane.jobs == 0 {
                lanes.lanes.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_of_one_model_wait_in_turn_and_a_full_queue_refuses() {
        let queues = Queues::new(QueueLimits { waiting_per_model: 2, total: 5 });
        let first = queues.join("a").unwrap().ready().await;
        let (second, third) = (queues.join("a").unwrap(), queues.join("a").unwrap());
        assert_eq!((second.position, third.position), (1, 2));
        assert_eq!(queues.join("a").unwrap_err().status, StatusCode::TOO_MANY_REQUESTS);
        // Another model has its own queue, up to the total.
        let other = queues.join("b").unwrap();
        assert_eq!(other.position, 0);
        let _fifth = queues.join("c").unwrap();
        assert_eq!(queues.join("d").unwrap_err().status, StatusCode::SERVICE_UNAVAILABLE);
        // The second runs once the first is done; a ticket dropped while waiting leaves.
        let waiting = tokio::spawn(second.ready());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let _second = waiting.await.unwrap();
        drop(third);
        assert_eq!(queues.length("a"), 1);
        drop(other);
        assert_eq!(queues.length("b"), 0);
    }
}
