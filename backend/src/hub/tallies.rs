//! Poll tallies on their way out: the mailbox the store's writer leaves them in
//! and the task that coalesces them (at most ten per second per poll, the latest
//! always delivered).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use parley_common::{ServerMsg, Tally};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Hub, encode};
use crate::outbox::Frame;
use crate::store::ChannelKey;

/// Shortest time between two tallies of one poll sent to its viewers.
pub const TALLY_INTERVAL: Duration = Duration::from_millis(100);
/// How often the coalescer forgets what it sent to polls gone quiet.
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A new tally from the store's writer.
#[derive(Debug)]
pub struct TallyUpdate {
    pub key: ChannelKey,
    pub poll: u64,
    pub tally: Tally,
}

/// Where the store's writer leaves new tallies for the coalescer: one slot per
/// poll holding its newest tally, replaced in place. Coalescing starts here, at
/// the source, so however fast votes commit and however late the coalescer
/// runs, what waits is one tally per poll with new votes — never a queue that
/// grows with the votes (DESIGN.md rule 4: tallies are state).
#[derive(Debug, Default)]
pub struct TallyMailbox {
    /// Per poll: its newest tally, and the version before the oldest one it
    /// replaced (what viewers may hold, if nothing was sent since the start).
    latest: Mutex<HashMap<u64, (TallyUpdate, u64)>>,
    ready: Notify,
}

impl TallyMailbox {
    fn latest(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (TallyUpdate, u64)>> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves `update`, replacing an older tally of the same poll; never waits.
    pub fn put(&self, update: TallyUpdate) {
        {
            let mut latest = self.latest();
            match latest.get_mut(&update.poll) {
                Some((old, _)) => {
                    if old.tally.version < update.tally.version {
                        *old = update;
                    }
                }
                None => {
                    let after = update.tally.version.saturating_sub(1);
                    latest.insert(update.poll, (update, after));
                }
            }
        }
        // A permit is kept if the coalescer is busy: no wake-up is lost.
        self.ready.notify_one();
    }

    /// Tallies waiting (one per poll at most).
    pub fn len(&self) -> usize {
        self.latest().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self) -> HashMap<u64, (TallyUpdate, u64)> {
        std::mem::take(&mut *self.latest())
    }
}

/// A poll's newest tally waiting to go out.
struct Pending {
    update: TallyUpdate,
    /// The version viewers hold before `update`, if nothing was sent for the
    /// poll since the server started (older versions were coalesced away).
    after: u64,
    /// When the newest vote (or close) arrived.
    last_update: Instant,
    /// Spacing between tallies while votes keep coming (longer for big rooms).
    spacing: Duration,
}

/// While votes keep coming, a room of `viewers` gets a tally every this long:
/// [`TALLY_INTERVAL`] up to 1,000 viewers, growing to 5× that at 5,000, because
/// every tally is one socket write per viewer.
fn burst_spacing(viewers: usize) -> Duration {
    let factor = u32::try_from(viewers / 1000)
        .unwrap_or(u32::MAX)
        .clamp(1, 5);
    TALLY_INTERVAL * factor
}

/// How long without a new vote before the burst counts as over and the newest
/// tally goes out without waiting for the burst spacing.
pub const QUIET: Duration = Duration::from_millis(10);

/// Shortest time between two regular tallies of a poll: a little over
/// [`TALLY_INTERVAL`], so that with one early tally a second (below) a poll
/// still gets at most ten a second.
pub const MIN_GAP: Duration = Duration::from_millis(110);

/// A burst's final tally may follow the previous tally this soon (instead of
/// [`MIN_GAP`]), once a second at most: in a big room the last spaced tally often
/// goes out just before the last votes are committed, and the final one would
/// otherwise wait for the gap.
pub const EARLY_GAP: Duration = Duration::from_millis(20);

/// How often a poll may have an early tally.
const EARLY_EVERY: Duration = Duration::from_secs(1);

/// When `p` may go out, given when its poll's previous tally went out and
/// whether it may go out early.
fn due(p: &Pending, sent_at: Option<Instant>, early_ok: bool) -> Instant {
    let Some(sent_at) = sent_at else {
        return p.last_update;
    };
    // Never more often than every MIN_GAP (≤ 10 a second); within that, at the
    // burst spacing, or as soon as the votes stop.
    let regular = (sent_at + MIN_GAP).max((sent_at + p.spacing).min(p.last_update + QUIET));
    if early_ok {
        regular.min((sent_at + EARLY_GAP).max(p.last_update + QUIET))
    } else {
        regular
    }
}

/// Runs until `shutdown`: keeps only the newest tally per poll and sends it to
/// the poll's room at most every [`TALLY_INTERVAL`] (every few intervals in a
/// big room while votes keep coming), and as soon as a burst of votes is over.
/// A burst of thousands of votes becomes a handful of frames per viewer, and
/// the last one is the final count.
pub async fn coalesce_tallies(
    hub: Hub,
    mailbox: std::sync::Arc<TallyMailbox>,
    shutdown: CancellationToken,
) {
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut sent = Sent::default();
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = pending.iter().map(|(poll, p)| sent.due(*poll, p)).min();
        tokio::select! {
            () = mailbox.ready.notified() => {
                for (poll, (update, after)) in mailbox.take() {
                    let older = pending.get(&poll);
                    if older.is_none_or(|p| p.update.tally.version < update.tally.version) {
                        let after = older.map_or(after, |p| p.after);
                        let spacing = burst_spacing(hub.online_members(&update.key));
                        pending.insert(poll, Pending {
                            update,
                            after,
                            last_update: Instant::now(),
                            spacing,
                        });
                    }
                    if pending
                        .get(&poll)
                        .is_some_and(|p| sent.due(poll, p) <= Instant::now())
                    {
                        flush(&hub, &mut pending, &mut sent, poll);
                    }
                }
            }
            () = sleep_until_some(next) => {
                let now = Instant::now();
                let ready: Vec<u64> = pending
                    .iter()
                    .filter(|(poll, p)| sent.due(**poll, p) <= now)
                    .map(|(poll, _)| *poll)
                    .collect();
                for poll in ready {
                    flush(&hub, &mut pending, &mut sent, poll);
                }
            }
            _ = prune.tick() => {
                sent.at.retain(|_, at| at.elapsed() < TALLY_INTERVAL * 10);
                sent.early.retain(|_, at| at.elapsed() < EARLY_EVERY);
            }
            () = shutdown.cancelled() => break,
        }
    }
    // Whatever is still pending (or just left) goes out before the connections
    // say goodbye.
    for (poll, (update, after)) in mailbox.take() {
        let older = pending.get(&poll);
        if older.is_none_or(|p| p.update.tally.version < update.tally.version) {
            let after = older.map_or(after, |p| p.after);
            pending.insert(
                poll,
                Pending {
                    update,
                    after,
                    last_update: Instant::now(),
                    spacing: Duration::ZERO,
                },
            );
        }
    }
    let polls: Vec<u64> = pending.keys().copied().collect();
    for poll in polls {
        flush(&hub, &mut pending, &mut sent, poll);
    }
}

/// What was sent per poll: when (for the rate), and which version (so the next
/// tally can say which one it follows).
#[derive(Default)]
struct Sent {
    at: HashMap<u64, Instant>,
    version: HashMap<u64, u64>,
    /// When each poll last had an early tally.
    early: HashMap<u64, Instant>,
}

impl Sent {
    fn due(&self, poll: u64, p: &Pending) -> Instant {
        let early_ok = self
            .early
            .get(&poll)
            .is_none_or(|at| at.elapsed() >= EARLY_EVERY);
        due(p, self.at.get(&poll).copied(), early_ok)
    }
}

fn flush(hub: &Hub, pending: &mut HashMap<u64, Pending>, sent: &mut Sent, poll: u64) {
    let Some(Pending { update, after, .. }) = pending.remove(&poll) else {
        return;
    };
    let version = update.tally.version;
    // Before anything was sent for this poll (since this server started),
    // viewers hold at most the version before the first one coalesced here.
    let since = sent.version.insert(poll, version).unwrap_or(after);
    let msg = ServerMsg::Tally {
        poll,
        since,
        tally: update.tally,
    };
    match msg.to_json() {
        Ok(json) => hub.broadcast_state(&update.key, poll, &Frame::from(json)),
        Err(err) => tracing::error!(%err, "could not encode a tally"),
    }
    let now = Instant::now();
    if let Some(previous) = sent.at.insert(poll, now)
        && now < previous + MIN_GAP
    {
        sent.early.insert(poll, now);
    }
}

impl Hub {
    /// Hands a committed tally to the coalescer, or (when it was never started,
    /// in unit tests) straight to the poll's viewers.
    pub(super) fn post_tally(&self, key: &ChannelKey, poll: u64, tally: &Tally) {
        let update = TallyUpdate {
            key: key.clone(),
            poll,
            tally: tally.clone(),
        };
        match self.inner.tallies.get() {
            Some(mailbox) => mailbox.put(update),
            None => {
                let msg = ServerMsg::Tally {
                    poll,
                    since: update.tally.version.saturating_sub(1),
                    tally: update.tally,
                };
                if let Some(frame) = encode(&msg) {
                    self.broadcast_state(key, poll, &frame);
                }
            }
        }
    }

    /// Tallies waiting for the coalescer (at most one per poll).
    pub fn tallies_waiting(&self) -> usize {
        self.inner.tallies.get().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use parley_common::{RoomName, Username};

    use super::*;
    use crate::outbox::Outbox;
    use crate::store::{AuthUser, TokenHash, UserId};

    fn tally(version: u64) -> Tally {
        Tally {
            version,
            counts: vec![version, 0],
            voters: version,
            closed: false,
        }
    }

    #[test]
    fn the_mailbox_keeps_one_newest_tally_per_poll_however_many_arrive() {
        let mailbox = TallyMailbox::default();
        let key = ChannelKey::Room(RoomName::lobby());
        // 10,000 tallies of three polls, nobody taking them: three wait.
        for v in 1..=10_000 {
            for poll in [1, 2, 3] {
                mailbox.put(TallyUpdate {
                    key: key.clone(),
                    poll,
                    tally: tally(v),
                });
            }
            assert!(mailbox.len() <= 3);
        }
        // An older version arriving late never replaces a newer one.
        mailbox.put(TallyUpdate {
            key,
            poll: 2,
            tally: tally(5),
        });
        let waiting = mailbox.take();
        assert_eq!(waiting.len(), 3);
        // The newest, and what viewers held before the first.
        assert!(
            waiting
                .values()
                .all(|(u, after)| u.tally.version == 10_000 && *after == 0)
        );
        assert!(mailbox.is_empty());
    }

    #[test]
    fn tallies_are_spaced_by_room_size_capped_at_ten_a_second_and_sent_when_votes_stop() {
        assert_eq!(burst_spacing(3), TALLY_INTERVAL);
        assert_eq!(burst_spacing(2_500), TALLY_INTERVAL * 2);
        assert_eq!(burst_spacing(50_000), TALLY_INTERVAL * 5);
        let t0 = Instant::now();
        let pending = |last_update: Instant, spacing| Pending {
            update: TallyUpdate {
                key: ChannelKey::Room(parley_common::RoomName::lobby()),
                poll: 1,
                tally: tally(1),
            },
            after: 0,
            last_update,
            spacing,
        };
        let ms = Duration::from_millis;
        // Nothing sent yet: at once.
        assert_eq!(due(&pending(t0, TALLY_INTERVAL), None, true), t0);
        // Votes still coming in a big room: at the burst spacing.
        let busy = pending(t0 + ms(290), TALLY_INTERVAL * 5);
        assert_eq!(due(&busy, Some(t0), false), t0 + ms(290) + QUIET);
        let busy = pending(t0 + ms(499), TALLY_INTERVAL * 5);
        assert_eq!(due(&busy, Some(t0), false), t0 + ms(500));
        // Votes stopped: right after the quiet period, but not within MIN_GAP…
        let quiet = pending(t0 + ms(10), TALLY_INTERVAL * 5);
        assert_eq!(due(&quiet, Some(t0), false), t0 + MIN_GAP);
        // …unless the poll has not had an early tally for a second.
        assert_eq!(due(&quiet, Some(t0), true), t0 + EARLY_GAP);
        let later = pending(t0 + ms(40), TALLY_INTERVAL * 5);
        assert_eq!(due(&later, Some(t0), true), t0 + ms(40) + QUIET);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_few_frames_and_the_latest_version_always_arrives() {
        let hub = Hub::new();
        let key = ChannelKey::Room(RoomName::lobby());
        let (outbox, rx) = Outbox::new(64);
        let viewer = AuthUser {
            id: UserId(1),
            name: Username::parse("viewer").unwrap(),
        };
        hub.connect(
            &viewer,
            hub.next_conn_id(),
            TokenHash([1; 32]),
            outbox,
            [key.clone()],
        );
        let mailbox = std::sync::Arc::new(TallyMailbox::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(coalesce_tallies(
            hub.clone(),
            std::sync::Arc::clone(&mailbox),
            shutdown.clone(),
        ));

        let mut seen = Vec::new();
        // 1,000 versions over one second: one every millisecond.
        for v in 1..=1000 {
            mailbox.put(TallyUpdate {
                key: key.clone(),
                poll: 7,
                tally: tally(v),
            });
            tokio::time::sleep(Duration::from_millis(1)).await;
            for frame in rx.states.take() {
                seen.push(frame.as_str().to_owned());
            }
        }
        // Let the last interval run out.
        tokio::time::sleep(TALLY_INTERVAL * 2).await;
        seen.extend(rx.states.take().iter().map(|f| f.as_str().to_owned()));
        assert!(
            seen.len() <= 12,
            "{} frames for one second of votes",
            seen.len()
        );
        let last: ServerMsg = serde_json::from_str(seen.last().unwrap()).unwrap();
        assert!(matches!(last, ServerMsg::Tally { tally, .. } if tally.version == 1000));
        // Versions only go up.
        let versions: Vec<u64> = seen
            .iter()
            .map(|f| match serde_json::from_str(f).unwrap() {
                ServerMsg::Tally { tally, .. } => tally.version,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        // Each tally names the one before it, so viewers see no gap.
        let chain: Vec<(u64, u64)> = seen
            .iter()
            .map(|f| match serde_json::from_str(f).unwrap() {
                ServerMsg::Tally { since, tally, .. } => (since, tally.version),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(chain[0].0, 0);
        assert!(chain.windows(2).all(|w| w[1].0 == w[0].1), "{chain:?}");
        shutdown.cancel();
        task.await.unwrap();
    }
}
