//! Who is connected and where: a user's open connections and the channels they
//! follow, from the first connection to the last, and the kicks of a logout.

use parley_common::ServerMsg;

use super::{Conn, ConnId, Hub, OnlineUser, State};
use crate::outbox::{CloseReason, Frame, Outbox};
use crate::store::{AuthUser, ChannelKey, TokenHash, UserId};

impl State {
    /// Adds `user` (if online) to `key`'s members; true if newly added.
    pub(super) fn subscribe(&mut self, user: UserId, key: &ChannelKey) -> bool {
        let Some(online) = self.users.get_mut(&user) else {
            return false;
        };
        let added = !online.channels.contains(key);
        if added {
            online.channels.push(key.clone());
        }
        self.channels.entry(key.clone()).or_default().insert(user);
        added
    }

    fn unsubscribe(&mut self, user: UserId, key: &ChannelKey) {
        if let Some(online) = self.users.get_mut(&user) {
            online.channels.retain(|k| k != key);
        }
        if let Some(members) = self.channels.get_mut(key) {
            members.remove(&user);
            if members.is_empty() {
                self.channels.remove(key);
                self.busy_snapshots.remove(key);
            }
        }
    }
}

impl Hub {
    /// Registers an open connection of `user`, a member of `channels`. The first
    /// connection of a user brings them online: their channels hear about it.
    /// Returns who is online in each channel, encoded, for the new connection.
    pub fn connect(
        &self,
        user: &AuthUser,
        conn: ConnId,
        session: TokenHash,
        outbox: Outbox,
        channels: impl IntoIterator<Item = ChannelKey>,
    ) -> Vec<Frame> {
        let mut state = self.state();
        let first = !state.users.contains_key(&user.id);
        if first {
            state.users.insert(
                user.id,
                OnlineUser {
                    name: user.name.clone(),
                    conns: Vec::with_capacity(1),
                    channels: Vec::new(),
                },
            );
            state.by_name.insert(user.name.key(), user.id);
        }
        if let Some(online) = state.users.get_mut(&user.id) {
            online.conns.retain(|(id, _)| *id != conn);
            // Exact sizes: most users have one or two tabs, in a few channels.
            online.conns.reserve_exact(1);
            online.conns.push((conn, Conn { outbox, session }));
        }
        let channels: Vec<ChannelKey> = channels.into_iter().collect();
        if let Some(online) = state.users.get_mut(&user.id) {
            online.channels.reserve_exact(channels.len());
        }
        for key in &channels {
            if state.subscribe(user.id, key) && first {
                state.presence(key, user.id, true);
            }
        }
        self.presence_changed(&mut state, user);
        channels
            .iter()
            .filter_map(|key| state.snapshot_frame(key, user.id))
            .collect()
    }

    /// Forgets a connection; a user whose last connection closed goes offline and
    /// their channels hear about it.
    pub fn disconnect(&self, user: UserId, conn: ConnId) {
        let mut state = self.state();
        let Some(online) = state.users.get_mut(&user) else {
            return;
        };
        online.conns.retain(|(id, _)| *id != conn);
        if !online.conns.is_empty() {
            return;
        }
        let channels = online.channels.clone();
        for key in &channels {
            state.unsubscribe(user, key);
            state.presence(key, user, false);
        }
        if let Some(gone) = state.users.remove(&user) {
            state.by_name.remove(&gone.name.key());
            let gone = AuthUser {
                id: user,
                name: gone.name,
            };
            self.presence_changed(&mut state, &gone);
        }
    }

    /// `user` joined `room`: deliver its messages to all their connections, tell
    /// the room they are here, and return who is online there.
    pub fn joined(&self, user: UserId, key: &ChannelKey) -> Option<ServerMsg> {
        let mut state = self.state();
        if state.subscribe(user, key) {
            state.presence(key, user, true);
            if let Some((who, _)) = state.hook_channels(user) {
                self.presence_changed(&mut state, &who);
            }
        }
        state.snapshot(key, user)
    }

    /// `user` left `room`.
    pub fn left(&self, user: UserId, key: &ChannelKey) {
        let mut state = self.state();
        state.unsubscribe(user, key);
        state.presence(key, user, false);
        if let Some((who, _)) = state.hook_channels(user) {
            self.presence_changed(&mut state, &who);
        }
    }

    /// Closes every connection of a session (logout) with `reason`.
    pub fn close_session(&self, session: TokenHash, reason: CloseReason) {
        let state = self.state();
        for online in state.users.values() {
            for conn in online
                .conns
                .iter()
                .map(|(_, c)| c)
                .filter(|c| c.session == session)
            {
                conn.outbox.kick(reason);
            }
        }
    }

    /// Whether `user` has an open connection, here or on another node.
    pub fn is_online(&self, user: UserId) -> bool {
        let state = self.state();
        state.users.contains_key(&user) || state.remote_name(user).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::testing::{SESSION, frames, online, room, user};

    #[test]
    fn joining_and_leaving_change_delivery_for_all_tabs() {
        let hub = Hub::new();
        let (_, mut a1) = online(&hub, 1, &["lobby"], 16);
        let (_, mut a2) = online(&hub, 1, &["lobby"], 16);
        let snapshot = hub.joined(UserId(1), &room("rust")).unwrap();
        assert!(matches!(snapshot, ServerMsg::Online { ref users, .. } if users.len() == 1));
        frames(&mut a1);
        frames(&mut a2);
        hub.broadcast(&room("rust"), &Frame::from("r"));
        assert_eq!(frames(&mut a1), ["r"]);
        assert_eq!(frames(&mut a2), ["r"]);
        hub.left(UserId(1), &room("rust"));
        assert_eq!(hub.broadcast(&room("rust"), &Frame::from("r2")), 0);
    }

    #[tokio::test]
    async fn logout_kicks_only_that_sessions_connections() {
        let hub = Hub::new();
        let (o1, r1) = Outbox::new(4);
        let (o2, r2) = Outbox::new(4);
        let other = TokenHash([9; 32]);
        hub.connect(&user(1), hub.next_conn_id(), SESSION, o1, [room("lobby")]);
        hub.connect(&user(1), hub.next_conn_id(), other, o2, [room("lobby")]);
        hub.close_session(SESSION, CloseReason::LOGGED_OUT);
        assert_eq!(r1.kick.kicked().await, CloseReason::LOGGED_OUT);
        assert!(!r2.kick.is_kicked());
    }
}
