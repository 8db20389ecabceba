//! Leads taken together: the intakes that arrive while one transaction is
//! writing wait in a queue, and the next transaction takes all of them.
//!
//! One lead is about a dozen statements; what costs is around them: the
//! transaction's begin and commit (on SQLite a WAL append of every page the
//! lead touched), and reading the workspace's zone, rules, reps and turns
//! again for each lead. Under load many leads arrive at once; taking them
//! in one transaction shares all of that, while a lone lead is still
//! written at once (its batch is itself).
//!
//! A batch is all or nothing: when one of its leads fails (an ad id that
//! does not exist, a unique key a concurrent process took first), the
//! transaction is rolled back and each lead is taken again in its own, so
//! a bad lead fails alone and the others land. The queue is drained by a
//! task that runs while the queue has leads; the callers wait for their
//! own answer, so a caller that goes away loses nothing that others sent.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::tx::{LeadTx, Seen};
use super::{Intake, LeadInput};
use crate::{BeginWrite, Result, Store, StoreError, on_db};

/// The most leads one transaction takes: enough to share the commit under
/// load, few enough that a batch holds the writer for milliseconds.
const MOST: usize = 64;

struct Waiting {
    ws: i64,
    input: LeadInput,
    answer: oneshot::Sender<Result<Intake>>,
}

/// The leads waiting for a transaction, and whether a task is draining
/// them.
#[derive(Default)]
pub(crate) struct IntakeQueue {
    state: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    draining: bool,
}

impl IntakeQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while the lock is held leaves a queue that is still
        // whole (pushes and drains are single operations).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Ends a drain that stops early (a panic, the runtime shutting down):
/// the leads still waiting are answered with an error instead of waiting
/// forever, and the next lead starts a new drain.
struct Draining<'a> {
    queue: &'a IntakeQueue,
    finished: bool,
}

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut q = self.queue.lock();
            q.draining = false;
            q.waiting.clear();
        }
    }
}

impl Store {
    /// Queues one lead for the next intake transaction and waits for its
    /// answer; starts the drain when none is running.
    pub(super) async fn intake_queued(&self, ws: i64, input: &LeadInput) -> Result<Intake> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut q = self.intakes.lock();
            q.waiting.push(Waiting {
                ws,
                input: input.clone(),
                answer,
            });
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            let store = self.clone();
            tokio::spawn(async move { store.drain_intakes().await });
        }
        answered
            .await
            .map_err(|_| StoreError::Backend(sqlx::Error::WorkerCrashed))?
    }

    async fn drain_intakes(&self) {
        let mut draining = Draining {
            queue: &self.intakes,
            finished: false,
        };
        loop {
            let batch: Vec<Waiting> = {
                let mut q = self.intakes.lock();
                if q.waiting.is_empty() {
                    q.draining = false;
                    draining.finished = true;
                    return;
                }
                let n = q.waiting.len().min(MOST);
                q.waiting.drain(..n).collect()
            };
            self.take_batch(batch).await;
        }
    }

    /// Takes a batch in one transaction, or, when that fails, each lead in
    /// its own; answers every caller.
    async fn take_batch(&self, batch: Vec<Waiting>) {
        if batch.len() > 1 {
            let together = {
                let _turn = self.sqlite_write_turn().await;
                let now = self.now();
                on_db!(self, p => {
                    async {
                        let mut tx = p.begin_write().await?;
                        let mut seen: HashMap<i64, Seen> = HashMap::new();
                        let mut out = Vec::with_capacity(batch.len());
                        for w in &batch {
                            out.push(tx.intake_seen(w.ws, &w.input, now, seen.entry(w.ws).or_default()).await?);
                        }
                        for s in seen.values_mut() {
                            tx.flush(s).await?;
                        }
                        tx.commit().await?;
                        Ok::<_, StoreError>(out)
                    }.await
                })
            };
            match together {
                Ok(out) => {
                    for (w, intake) in batch.into_iter().zip(out) {
                        let _ = w.answer.send(Ok(intake));
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(leads = batch.len(), error = %e, "a batch of leads failed; taking each alone");
                }
            }
        }
        for w in batch {
            let _ = w.answer.send(self.intake_alone(w.ws, &w.input).await);
        }
    }

    /// One lead in its own transaction.
    pub(super) async fn intake_alone(&self, ws: i64, input: &LeadInput) -> Result<Intake> {
        let _turn = self.sqlite_write_turn().await;
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let out = tx.intake(ws, input, now).await?;
            tx.commit().await?;
            Ok(out)
        })
    }
}
