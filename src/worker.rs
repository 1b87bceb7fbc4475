//! A blocking-pool worker that keeps its thread while work keeps arriving.
//!
//! An upload body is hashed (and, on local disk, written) off the async runtime, a batch of
//! about a megabyte at a time. One blocking-pool job per batch costs two cross-thread hand-offs
//! per batch (a pool thread woken for the job, the task woken for its result), and on a single
//! fast stream those wake-ups, not the hashing, were what the cores spent their spare time on.
//! A [`Worker`] instead runs one job that takes batch after batch from a queue while the
//! client keeps sending, and leaves the pool (handing its state back) once the queue has been
//! empty for [`LINGER`]: a slow or stalled client holds no thread.
//!
//! Bounded: at most `capacity` bytes wait in the queue (the sender waits for room), plus the
//! batch being processed. With a `slots` semaphore, a job runs only while it holds a permit,
//! gives it up after [`TURN`] batches when every slot is taken, and does not linger on an empty
//! queue then, so a thousand uploads share the slots in turn rather than the first few keeping
//! them (idle or not).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long a job waits for the next batch before it gives its thread back.
pub(crate) const LINGER: Duration = Duration::from_millis(2);

/// Batches a job processes before it gives its slot up if another job waits for one.
pub(crate) const TURN: usize = 16;

/// What a worker does with each batch, on a blocking-pool thread.
pub(crate) trait Job: Send + 'static {
    /// One unit of work.
    type Batch: Send + 'static;
    /// Processes one batch; an error stops the worker (the batches after it are dropped).
    fn run(&mut self, batch: Self::Batch) -> io::Result<()>;
}

struct Queue<J: Job> {
    batches: VecDeque<(J::Batch, usize)>,
    queued: usize,
    /// The job's state while no thread runs it; `None` while a thread does.
    idle: Option<J>,
    /// A thread is running (or about to run) the job.
    running: bool,
    /// The running thread waits on `work` for a batch.
    waiting: bool,
    /// No more batches will come: the thread leaves as soon as the queue is empty.
    closing: bool,
    failed: Option<io::Error>,
}

struct Shared<J: Job> {
    queue: Mutex<Queue<J>>,
    /// Signals the job's thread: a batch arrived.
    work: Condvar,
    /// Signals the async side: room in the queue, or the job left its thread.
    room: Notify,
    capacity: usize,
}

impl<J: Job> Shared<J> {
    fn lock(&self) -> MutexGuard<'_, Queue<J>> {
        // Nothing under the lock can panic half-way through an update: no poisoning to heed.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A job's queue and the means to run it on the blocking pool; see the module docs.
pub(crate) struct Worker<J: Job> {
    shared: Arc<Shared<J>>,
    slots: Option<Arc<Semaphore>>,
}

impl<J: Job> std::fmt::Debug for Worker<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl<J: Job> Worker<J> {
    /// A worker for `job`, queueing at most `capacity` bytes (at least one batch is always
    /// taken), its threads bounded by `slots` if given.
    pub(crate) fn new(job: J, capacity: usize, slots: Option<Arc<Semaphore>>) -> Self {
        Worker {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    batches: VecDeque::new(),
                    queued: 0,
                    idle: Some(job),
                    running: false,
                    waiting: false,
                    closing: false,
                    failed: None,
                }),
                work: Condvar::new(),
                room: Notify::new(),
                capacity,
            }),
            slots,
        }
    }

    /// Queues `batch` (of `len` bytes), waiting while the queue is full. Fails with the job's
    /// error if an earlier batch failed.
    ///
    /// Cancel safe: if the future is dropped, the batch was either queued or dropped.
    pub(crate) async fn push(&self, batch: J::Batch, len: usize) -> io::Result<()> {
        self.wait(|q, capacity| q.queued == 0 || q.queued + len <= capacity)
            .await?;
        {
            let mut queue = self.shared.lock();
            if let Some(e) = failed(&queue) {
                return Err(e);
            }
            queue.queued += len;
            queue.batches.push_back((batch, len));
            if queue.waiting {
                queue.waiting = false;
                self.shared.work.notify_one();
            }
        }
        self.start().await;
        Ok(())
    }

    /// Waits until every queued batch is processed and hands the job back.
    pub(crate) async fn finish(self) -> io::Result<J> {
        {
            let mut queue = self.shared.lock();
            queue.closing = true;
            if queue.waiting {
                queue.waiting = false;
                self.shared.work.notify_one();
            }
        }
        self.wait(|q, _| q.batches.is_empty() && !q.running).await?;
        let mut queue = self.shared.lock();
        if let Some(e) = failed(&queue) {
            return Err(e);
        }
        queue
            .idle
            .take()
            .ok_or_else(|| io::Error::other("worker job lost"))
    }

    /// Waits until `ready` holds (or the job failed), starting a thread whenever batches wait
    /// with none running (after a job gave its slot up, or failed to get one).
    async fn wait(&self, ready: impl Fn(&Queue<J>, usize) -> bool) -> io::Result<()> {
        loop {
            let notified = self.shared.room.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a signal between the check and the await is kept.
            notified.as_mut().enable();
            {
                let queue = self.shared.lock();
                if let Some(e) = failed(&queue) {
                    return Err(e);
                }
                if ready(&queue, self.shared.capacity) {
                    return Ok(());
                }
            }
            self.start().await;
            notified.await;
        }
    }

    /// Starts a thread for the job if batches wait and none runs.
    async fn start(&self) {
        {
            let mut queue = self.shared.lock();
            if queue.running || queue.batches.is_empty() || queue.failed.is_some() {
                return;
            }
            // Claimed before the (maybe long) wait for a slot, so only one start proceeds.
            queue.running = true;
        }
        // If this future is dropped while it waits for a slot, the claim is undone.
        let claim = Claim(&self.shared);
        // Waits (without a thread) while every slot is taken; the semaphore is never closed.
        let permit = match &self.slots {
            Some(slots) => Arc::clone(slots).acquire_owned().await.ok(),
            None => None,
        };
        std::mem::forget(claim);
        let job = self.shared.lock().idle.take();
        let Some(job) = job else {
            // Unreachable: `running` kept every other start out.
            self.shared.lock().running = false;
            return;
        };
        let shared = Arc::clone(&self.shared);
        let slots = self.slots.clone();
        // The handle is not kept: the job reports through `shared`, and a dropped worker's job
        // finishes its queue (or its linger) on its own.
        drop(tokio::task::spawn_blocking(move || {
            run(&shared, job, permit, slots.as_deref())
        }));
    }
}

/// A start's claim on running the job, undone if the start is dropped before it spawns.
struct Claim<'a, J: Job>(&'a Shared<J>);

impl<J: Job> Drop for Claim<'_, J> {
    fn drop(&mut self) {
        self.0.lock().running = false;
        self.0.room.notify_waiters();
    }
}

fn failed<J: Job>(queue: &Queue<J>) -> Option<io::Error> {
    queue
        .failed
        .as_ref()
        .map(|e| io::Error::new(e.kind(), e.to_string()))
}

/// The job's thread: batch after batch until the queue stays empty for [`LINGER`], its turn
/// is over while others wait for a slot, or a batch fails.
fn run<J: Job>(
    shared: &Shared<J>,
    mut job: J,
    permit: Option<OwnedSemaphorePermit>,
    slots: Option<&Semaphore>,
) {
    let mut done = 0usize;
    let mut queue = shared.lock();
    loop {
        if let Some((batch, len)) = queue.batches.pop_front() {
            drop(queue);
            let result = job.run(batch);
            done += 1;
            queue = shared.lock();
            queue.queued -= len;
            // Wakes the sender only when the queue has drained to half: one wake-up per few
            // batches while the job is the slower side.
            if queue.queued <= shared.capacity / 2 {
                shared.room.notify_waiters();
            }
            if let Err(e) = result {
                queue.failed = Some(e);
                queue.batches.clear();
                queue.queued = 0;
                break;
            }
            let others_wait = slots.is_some_and(|s| s.available_permits() == 0);
            if done >= TURN && others_wait {
                break;
            }
            continue;
        }
        // An empty queue: linger for the next batch only while no other job could use the slot.
        if queue.closing || slots.is_some_and(|s| s.available_permits() == 0) {
            break;
        }
        queue.waiting = true;
        let (guard, timeout) = shared
            .work
            .wait_timeout(queue, LINGER)
            .unwrap_or_else(PoisonError::into_inner);
        queue = guard;
        queue.waiting = false;
        if timeout.timed_out() && queue.batches.is_empty() {
            break;
        }
    }
    queue.idle = Some(job);
    // The slot goes back before the job is seen as stopped: a `finish` that returns has it back.
    drop(permit);
    queue.running = false;
    drop(queue);
    shared.room.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sum {
        total: u64,
        batches: usize,
        fail_at: Option<u64>,
    }

    impl Job for Sum {
        type Batch = Vec<u64>;
        fn run(&mut self, batch: Vec<u64>) -> io::Result<()> {
            for n in batch {
                if Some(n) == self.fail_at {
                    return Err(io::Error::other(format!("failed at {n}")));
                }
                self.total += n;
            }
            self.batches += 1;
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_batch_is_processed_in_order_of_arrival() {
        let worker = Worker::new(Sum::default(), 3, None);
        let mut expected = 0;
        for i in 0..1000u64 {
            worker.push(vec![i, i], 1).await.unwrap();
            expected += 2 * i;
            if i % 100 == 0 {
                // Longer than the linger: the job leaves its thread and is started again.
                tokio::time::sleep(LINGER * 3).await;
            }
        }
        let sum = worker.finish().await.unwrap();
        assert_eq!(sum.total, expected);
        assert_eq!(sum.batches, 1000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_batch_fails_the_next_push_or_the_finish() {
        let worker = Worker::new(
            Sum {
                fail_at: Some(7),
                ..Sum::default()
            },
            1,
            None,
        );
        let mut error = None;
        for i in 0..100u64 {
            if let Err(e) = worker.push(vec![i], 1).await {
                error = Some(e);
                break;
            }
        }
        let error = match error {
            Some(e) => e,
            None => worker.finish().await.err().expect("the job failed"),
        };
        assert!(error.to_string().contains("failed at 7"), "{error}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_dropped_while_waiting_for_a_slot_leaves_the_worker_usable() {
        let slots = Arc::new(Semaphore::new(1));
        let held = Arc::clone(&slots).acquire_owned().await.unwrap();
        let worker = Worker::new(Sum::default(), 4, Some(Arc::clone(&slots)));
        // Queued, then waits for the slot held above; dropped by the timeout (a client gone).
        let waited = tokio::time::timeout(Duration::from_millis(50), worker.push(vec![1], 1)).await;
        assert!(waited.is_err(), "the push could not have had a slot");
        drop(held);
        worker.push(vec![2], 1).await.unwrap();
        let finished = tokio::time::timeout(Duration::from_secs(10), worker.finish()).await;
        let sum = finished
            .expect("a start left claimed by the dropped push")
            .unwrap();
        // The dropped push had queued its batch before it waited: nothing is lost or doubled.
        assert_eq!(sum.total, 3);
        assert_eq!(slots.available_permits(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_share_few_slots_in_turn() {
        let slots = Arc::new(Semaphore::new(1));
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let slots = Arc::clone(&slots);
            tasks.push(tokio::spawn(async move {
                let worker = Worker::new(Sum::default(), 4, Some(slots));
                for i in 0..200 {
                    worker.push(vec![w * 1000 + i], 1).await.unwrap();
                }
                worker.finish().await.unwrap().total
            }));
        }
        for (w, task) in tasks.into_iter().enumerate() {
            let w = w as u64;
            assert_eq!(
                task.await.unwrap(),
                (0..200).map(|i| w * 1000 + i).sum::<u64>()
            );
        }
        assert_eq!(slots.available_permits(), 1, "every slot given back");
    }
}
