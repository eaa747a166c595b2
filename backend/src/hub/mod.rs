//! The hub: who is online, which of their connections are open, which channels
//! (rooms and private conversations) they are in, and fan-out of frames to those
//! connections' outboxes — chat messages, presence, typing, poll tallies.
//!
//! Sequence numbers and storage live in the [`store`](crate::store); the store's
//! writer calls [`Hub::publish`] (through the [`Fanout`](crate::store::Fanout)
//! trait) after each commit, in commit order, so members see every channel's
//! messages in order.
//!
//! State lives behind one `std::sync::Mutex`, touched only in short synchronous
//! sections that never `.await` (DESIGN.md rule 7). A std mutex (not tokio's) is the
//! right tool: nothing inside waits, so holding it is a few microseconds, and fan-out
//! is `try_send` of one shared, already-encoded frame into bounded outboxes. A room
//! message is encoded once for everyone; a private message twice (once per side,
//! because each side names the conversation after the other).
//!
//! One job per file: [`membership`] (connections and channels), [`fanout`]
//! (delivery into outboxes), [`presence`] (online lists and the busy-room clock),
//! [`typing`], [`tallies`] (coalescing poll tallies) and [`deadlines`] (closing
//! polls on time).

pub mod deadlines;
pub mod fanout;
pub mod membership;
pub mod presence;
pub mod remote;
pub mod tallies;
#[cfg(test)]
mod testing;
pub mod typing;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use parley_common::{ServerMsg, Username};
use tokio_util::sync::CancellationToken;

use crate::outbox::{Frame, Outbox};
use crate::store::{ChannelKey, TokenHash, UserId};

pub use remote::PresenceHook;
pub use typing::NotInRoom;

/// Identifies one connection (one WebSocket, or one long-poll session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A cheap, cloneable handle to the shared hub state.
#[derive(Clone, Debug, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_conn: AtomicU64,
    state: Mutex<State>,
    /// Where new tallies go to be coalesced; unset (in unit tests) means "send
    /// each one at once".
    tallies: OnceLock<Arc<tallies::TallyMailbox>>,
    /// Told when a local user's presence changes (a cluster tells the other
    /// nodes); unset on a single node.
    presence_hook: OnceLock<Arc<dyn remote::PresenceHook>>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, OnlineUser>,
    /// Online members of each channel.
    channels: HashMap<ChannelKey, HashSet<UserId>>,
    /// Online users by lower-cased name, for typing in private conversations.
    by_name: HashMap<String, UserId>,
    /// Busy rooms whose online list changed since it was last sent.
    presence_dirty: HashSet<ChannelKey>,
    /// The online list last sent to each busy room, encoded: what a connection
    /// joining it gets, instead of a list sorted and encoded per connection (the
    /// room hears a fresh one within a second anyway). Replaced by
    /// [`Hub::flush_presence`].
    busy_snapshots: HashMap<ChannelKey, Frame>,
    /// Users online on other nodes of a cluster ([`remote`]).
    remote: remote::Remote,
}

#[derive(Debug)]
struct OnlineUser {
    name: Username,
    /// Vectors, not hash maps: a user has a handful of each, and an idle
    /// connection should not carry a mostly empty table (~340 bytes for one
    /// connection, ~110 for one channel).
    conns: Vec<(ConnId, Conn)>,
    channels: Vec<ChannelKey>,
}

#[derive(Debug)]
struct Conn {
    outbox: Outbox,
    session: TokenHash,
}

fn encode(msg: &ServerMsg) -> Option<Frame> {
    match msg.to_json() {
        Ok(json) => Some(Frame::from(json)),
        Err(err) => {
            tracing::error!(%err, "could not encode a server message");
            None
        }
    }
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.inner.next_conn.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps in a state worse
        // than losing the whole server, so keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the hub's clocks (once; needs a tokio runtime): the task that
    /// coalesces poll tallies and the one that sends busy rooms' online lists.
    pub fn start(&self, shutdown: CancellationToken) {
        let mailbox = Arc::new(tallies::TallyMailbox::default());
        if self.inner.tallies.set(Arc::clone(&mailbox)).is_ok() {
            tokio::spawn(tallies::coalesce_tallies(
                self.clone(),
                mailbox,
                shutdown.clone(),
            ));
            tokio::spawn(presence::presence_clock(self.clone(), shutdown));
        }
    }
}
