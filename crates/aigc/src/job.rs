//! A long job's link to whoever started it from another thread (a server): how far it got, and
//! a request to stop. Training (`fit`) records its steps and stops after checkpointing the step
//! it reached; diffusion sampling records its network evaluations and skips the rest; style
//! transfer stops between steps.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct JobControl {
    stop: AtomicBool,
    done: AtomicUsize,
    total: AtomicUsize,
}

impl JobControl {
    /// Asks the job to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Work done and the whole job's work, in the job's unit (training steps, image steps); the
    /// total is 0 before the job knows it.
    pub fn progress(&self) -> (usize, usize) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }

    pub fn record(&self, done: usize, total: usize) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    pub fn advance(&self, by: usize) {
        self.done.fetch_add(by, Ordering::Relaxed);
    }
}
