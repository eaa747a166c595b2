//! The browser's network, as `navigator.onLine` and the window's `offline` and
//! `online` events tell it ([`Action::Offline`], [`Action::Online`]).
//!
//! Offline, the connection is given up at once instead of looking open until
//! its pings go unanswered (~30 s): the user sees it, what they write waits
//! as pending, and no reconnection is tried (it would fail at once and only
//! grow the backoff). Who is online stays as last known: the network, not the
//! people, went away, and a fresh list comes with the next `welcome`. The
//! `online` event reconnects at once, without the backoff's wait, and resumes
//! like any reconnection (what is still pending goes out after `welcome`).

use super::{AppState, ConnState};

/// The closed connection's reason while the browser is offline.
pub const OFFLINE_REASON: &str = "no network";

impl AppState {
    /// The browser lost its network: the current connection (if any) is
    /// closed as if it had dropped, keeping who is online as last known.
    pub(super) fn went_offline(mut self) -> Self {
        self.offline = true;
        // A scheduled reconnection is called off (`can_reconnect` is false
        // offline); a closed connection stays as it is.
        self.reconnect_at = None;
        if self.me().is_none()
            || !matches!(
                self.conn,
                ConnState::Connecting | ConnState::Open | ConnState::Closing
            )
        {
            return self;
        }
        // A new id drops the connection's handle (the root effect's teardown
        // closes it) and makes whatever it still reports stale. Offline,
        // `apply_closed` keeps who is online.
        self.conn_id = self.conn_id.wrapping_add(1).max(1);
        self.apply_closed(None, OFFLINE_REASON.to_owned())
    }

    /// The browser has a network again: reconnect now, as a first attempt
    /// (the failures while offline were the network's, not the server's).
    pub(super) fn came_online(&mut self) {
        self.offline = false;
        if self.can_reconnect() {
            self.retries = 0;
            self.start_connection();
        }
    }
}
