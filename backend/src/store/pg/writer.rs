//! The node's writer task: appends batched into one transaction each, votes,
//! poll closes and resumes one at a time between batches — all in one order,
//! this node's commit order.
//!
//! After a batch commits, its new messages go to the [`Fanout`] in commit
//! order and only then are the callers answered: an ack never overtakes its
//! message, and an ack means committed. A failed batch answers every request
//! in it with an error (nothing of it was committed, or — a commit whose
//! answer was lost — the client's retry finds the original by its client id).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use deadpool_postgres::Pool;
use parley_common::ResumeFrom;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::append::{self, Request};
use super::{Reply, polls, resume};
use crate::store::{Attach, AuthUser, Fanout, Stats, StoreError, UserId, Voted};

/// Most appends committed together.
const MAX_BATCH: usize = 1024;

pub enum Job {
    Append(Request),
    Resume {
        user: AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
        reply: Reply<()>,
    },
    Vote {
        poll: u64,
        user: UserId,
        option: u32,
        reply: Reply<Voted>,
    },
    ClosePoll {
        poll: u64,
        by: Option<UserId>,
        reply: Reply<Voted>,
    },
    /// Finish what came before, then stop.
    Close(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Handle {
    pub stats: Arc<Stats>,
    tx: mpsc::Sender<Job>,
    task: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Handle {
    /// Queues `job`, waiting for room while the queue is full (back-pressure).
    pub async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.tx.send(job).await.map_err(|_| StoreError::Closed)
    }

    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.tx.send(Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

pub fn spawn(
    pool: Pool,
    fanout: Arc<dyn Fanout>,
    queue: usize,
    commit_seconds: Histogram,
) -> Handle {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let stats = Arc::new(Stats::default());
    let writer = Writer {
        pool,
        fanout,
        stats: Arc::clone(&stats),
        commit_seconds,
    };
    let task = tokio::spawn(writer.run(rx));
    Handle {
        stats,
        tx,
        task: Arc::new(std::sync::Mutex::new(Some(task))),
    }
}

struct Writer {
    pool: Pool,
    fanout: Arc<dyn Fanout>,
    stats: Arc<Stats>,
    commit_seconds: Histogram,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        // A job taken while collecting a batch that is not an append: it runs
        // after the batch, keeping the queue's order.
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => match rx.recv().await {
                    Some(job) => job,
                    None => break,
                },
            };
            match job {
                Job::Append(first) => {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Job::Append(req)) => batch.push(req),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_appends(batch).await;
                }
                Job::Resume {
                    user,
                    from,
                    attach,
                    reply,
                } => {
                    let _ = reply.send(self.resume(&user, from, attach).await);
                }
                Job::Vote {
                    poll,
                    user,
                    option,
                    reply,
                } => {
                    let result = match self.pool.get().await {
                        Ok(mut c) => polls::vote(&mut c, poll, user, option).await,
                        Err(e) => Err(e.into()),
                    };
                    self.answer_tally(poll, result, reply);
                }
                Job::ClosePoll { poll, by, reply } => {
                    let result = match self.pool.get().await {
                        Ok(mut c) => polls::close(&mut c, poll, by).await,
                        Err(e) => Err(e.into()),
                    };
                    self.answer_tally(poll, result, reply);
                }
                Job::Close(done) => {
                    let _ = done.send(());
                    break;
                }
            }
        }
        tracing::info!("store writer stopped");
    }

    /// A changed tally goes to the fan-out (it was committed), then the answer.
    fn answer_tally(
        &self,
        poll: u64,
        result: Result<Result<Voted, StoreError>, StoreError>,
        reply: Reply<Voted>,
    ) {
        let result = result.unwrap_or_else(|err| {
            tracing::error!(%err, poll, "poll write failed");
            Err(err)
        });
        if let Ok(v) = &result {
            if v.changed {
                self.fanout.tally(&v.key, poll, &v.tally);
            }
        }
        let _ = reply.send(result);
    }

    async fn resume(
        &self,
        user: &AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
    ) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let frames = resume::replay(&**c, user, from).await?;
        (attach.0)(frames);
        Ok(())
    }

    async fn commit_appends(&self, batch: Vec<Request>) {
        let started = std::time::Instant::now();
        let size = batch.len();
        let result = async {
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await?;
            let answers = append::apply(&tx, &batch).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(answers)
        }
        .await;
        match result {
            Ok(answers) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.ops.fetch_add(size as u64, Ordering::Relaxed);
                self.stats
                    .commit_micros
                    .fetch_add(micros, Ordering::Relaxed);
                self.commit_seconds.observe(micros as f64 / 1e6);
                // Publish in commit order, then answer.
                for a in answers.iter().flatten() {
                    if !a.duplicate {
                        self.fanout.publish(&a.key, &a.msg, a.dm.as_ref());
                    }
                }
                for (req, answer) in batch.into_iter().zip(answers) {
                    let _ = req.reply.send(answer);
                }
            }
            Err(err) => {
                tracing::error!(%err, size, "store batch failed; rolled back");
                for req in batch {
                    let _ = req.reply.send(Err(StoreError::Aborted));
                }
            }
        }
    }
}
