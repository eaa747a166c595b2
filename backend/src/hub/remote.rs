//! Users online on other nodes of a cluster, as their nodes report them: who,
//! on which node, in which channels. They count in channels' online lists and
//! presence events, never in delivery (their own node delivers to them).
//!
//! A user's presence in a channel is the union over nodes: "online" goes out
//! when the first node has them there, "offline" when the last one lets go —
//! including this node's own connections ([`State::presence`] asks
//! [`State::remote_in`] before announcing a local change).
//!
//! What a node says is versioned by its own counter of presence changes
//! ([`Version`]): its events and its heartbeat's whole list carry it, and an
//! older statement never overrides a newer one — a heartbeat list written
//! just before a user connected must not take them offline again.

use std::collections::{HashMap, HashSet};

use parley_common::{Channel, ServerMsg, Username};

use super::fanout::Class;
use super::{Hub, State, encode};
use crate::store::{AuthUser, ChannelKey, UserId};

/// Told (under the hub's lock: must not block) when a user's connections on
/// this node come online in a set of channels, change channels, or go away
/// (`None`).
pub trait PresenceHook: Send + Sync + std::fmt::Debug {
    fn changed(&self, user: &AuthUser, channels: Option<&[ChannelKey]>, version: Version);
}

/// A node's count of its presence changes: what it says at version `v`
/// replaces anything it said before `v`.
pub type Version = u64;

#[derive(Debug, Default)]
pub(super) struct Remote {
    users: HashMap<UserId, RemoteUser>,
    /// Per channel: remote users there, with how many nodes have them there.
    members: HashMap<ChannelKey, HashMap<UserId, u32>>,
    /// The version of the last statement applied per (node, user), offline
    /// ones included (forgotten with the node).
    versions: HashMap<(u64, UserId), Version>,
    /// This node's own count (versions what it tells the others).
    pub(super) local_version: Version,
}

#[derive(Debug)]
struct RemoteUser {
    name: Username,
    nodes: HashMap<u64, Vec<ChannelKey>>,
}

impl State {
    pub(super) fn remote_name(&self, user: UserId) -> Option<Username> {
        self.remote.users.get(&user).map(|u| u.name.clone())
    }

    /// Whether `user` is in `key` on another node.
    pub(super) fn remote_in(&self, key: &ChannelKey, user: UserId) -> bool {
        self.remote
            .members
            .get(key)
            .is_some_and(|m| m.contains_key(&user))
    }

    fn local_in(&self, key: &ChannelKey, user: UserId) -> bool {
        self.channels.get(key).is_some_and(|m| m.contains(&user))
    }

    /// Users online in `key` on any node, each once.
    pub(super) fn online_ids(&self, key: &ChannelKey) -> impl Iterator<Item = UserId> + '_ {
        let local = self.channels.get(key);
        let remote = self
            .remote
            .members
            .get(key)
            .into_iter()
            .flat_map(|m| m.keys().copied())
            .filter(move |u| !local.is_some_and(|l| l.contains(u)));
        local.into_iter().flatten().copied().chain(remote)
    }

    pub(super) fn online_count(&self, key: &ChannelKey) -> usize {
        let local = self.channels.get(key).map_or(0, HashSet::len);
        let remote = self
            .remote
            .members
            .get(key)
            .map_or(0, |m| m.keys().filter(|u| !self.local_in(key, **u)).count());
        local + remote
    }

    /// Sets what `node` said about `user` at `version` (`None`: not there any
    /// more) unless it said something newer already, and announces the
    /// channels where their presence changed.
    fn set_remote(
        &mut self,
        node: u64,
        user: &AuthUser,
        channels: Option<Vec<ChannelKey>>,
        version: Version,
    ) {
        let known = self.remote.versions.entry((node, user.id)).or_insert(0);
        if version < *known {
            return;
        }
        *known = version;
        let entry = self
            .remote
            .users
            .entry(user.id)
            .or_insert_with(|| RemoteUser {
                name: user.name.clone(),
                nodes: HashMap::new(),
            });
        let old = match &channels {
            Some(now) => entry.nodes.insert(node, now.clone()),
            None => entry.nodes.remove(&node),
        }
        .unwrap_or_default();
        if entry.nodes.is_empty() {
            self.remote.users.remove(&user.id);
        }
        let new = channels.unwrap_or_default();
        for key in old.iter().filter(|k| !new.contains(k)) {
            let gone = self.remote.members.get_mut(key).is_some_and(|m| {
                let left = m.get_mut(&user.id).map_or(0, |n| {
                    *n = n.saturating_sub(1);
                    *n
                });
                if left == 0 {
                    m.remove(&user.id);
                }
                left == 0
            });
            if self.remote.members.get(key).is_some_and(HashMap::is_empty) {
                self.remote.members.remove(key);
            }
            if gone && !self.local_in(key, user.id) {
                self.announce_remote(key, user, false);
            }
        }
        for key in new.iter().filter(|k| !old.contains(k)) {
            let n = self
                .remote
                .members
                .entry(key.clone())
                .or_default()
                .entry(user.id)
                .or_insert(0);
            *n += 1;
            if *n == 1 && !self.local_in(key, user.id) {
                self.announce_remote(key, user, true);
            }
        }
    }

    fn announce_remote(&mut self, key: &ChannelKey, user: &AuthUser, online: bool) {
        // `announce` names the user from the tables; an offline user may have
        // just left them, so a small room's event is built here when needed.
        if self.name(user.id).is_some() {
            self.announce(key, user.id, online);
            return;
        }
        let channel = match key {
            ChannelKey::Room(room) => Channel::Room(room.clone()),
            ChannelKey::Dm(..) => Channel::Dm(user.name.clone()),
        };
        if let Some(frame) = encode(&ServerMsg::Presence {
            channel,
            user: user.name.clone(),
            online,
        }) {
            for other in self.members(key) {
                self.queue_for(other, &frame, Class::Deliver);
            }
        }
    }

    /// Tells the hook where `user` is now on this node.
    pub(super) fn hook_channels(
        &self,
        user: UserId,
    ) -> Option<(AuthUser, Option<Vec<ChannelKey>>)> {
        self.users.get(&user).map(|online| {
            (
                AuthUser {
                    id: user,
                    name: online.name.clone(),
                },
                Some(online.channels.clone()),
            )
        })
    }
}

impl Hub {
    /// Sets the hook told about local presence changes (once).
    pub fn set_presence_hook(&self, hook: std::sync::Arc<dyn PresenceHook>) {
        let _ = self.inner.presence_hook.set(hook);
    }

    /// Calls the hook with `user`'s channels on this node (`None`: gone).
    pub(super) fn presence_changed(&self, state: &mut State, user: &AuthUser) {
        let Some(hook) = self.inner.presence_hook.get() else {
            return;
        };
        state.remote.local_version += 1;
        let version = state.remote.local_version;
        match state.hook_channels(user.id) {
            Some((user, channels)) => hook.changed(&user, channels.as_deref(), version),
            None => hook.changed(user, None, version),
        }
    }

    /// What `node` said about `user` at `version`: online in `channels`, or
    /// gone (`None`).
    pub fn set_remote(
        &self,
        node: u64,
        user: &AuthUser,
        channels: Option<Vec<ChannelKey>>,
        version: Version,
    ) {
        self.state().set_remote(node, user, channels, version);
    }

    /// Everyone `node` had online at `version` (its heartbeat), replacing
    /// what it said before; `Version::MAX` and an empty list when the node is
    /// gone.
    pub fn replace_node(
        &self,
        node: u64,
        users: Vec<(AuthUser, Vec<ChannelKey>)>,
        version: Version,
    ) {
        let mut state = self.state();
        let listed: HashSet<UserId> = users.iter().map(|(u, _)| u.id).collect();
        let dropped: Vec<AuthUser> = state
            .remote
            .users
            .iter()
            .filter(|(id, u)| u.nodes.contains_key(&node) && !listed.contains(id))
            .map(|(id, u)| AuthUser {
                id: *id,
                name: u.name.clone(),
            })
            .collect();
        for user in dropped {
            state.set_remote(node, &user, None, version);
        }
        for (user, channels) in users {
            state.set_remote(node, &user, Some(channels), version);
        }
        if version == Version::MAX {
            state.remote.versions.retain(|(n, _), _| *n != node);
        }
    }

    /// The nodes other users are reported on.
    pub fn remote_nodes(&self) -> HashSet<u64> {
        let state = self.state();
        state
            .remote
            .users
            .values()
            .flat_map(|u| u.nodes.keys().copied())
            .collect()
    }

    /// Everyone online on this node, with their channels, and the version of
    /// this list (the heartbeat).
    pub fn local_users(&self) -> (Vec<(AuthUser, Vec<ChannelKey>)>, Version) {
        let state = self.state();
        let users = state
            .users
            .iter()
            .map(|(id, u)| {
                (
                    AuthUser {
                        id: *id,
                        name: u.name.clone(),
                    },
                    u.channels.clone(),
                )
            })
            .collect();
        (users, state.remote.local_version)
    }

    /// Whether `user` has a connection on this node.
    pub fn has_local_user(&self, user: UserId) -> bool {
        self.state().users.contains_key(&user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::testing::{of_type, online, room, user};

    #[test]
    fn a_user_on_another_node_is_online_here_until_the_last_node_lets_go() {
        let hub = Hub::new();
        let (_, mut watcher) = online(&hub, 9, &["lobby"], 64);
        of_type(&mut watcher, "presence");
        hub.set_remote(1, &user(2), Some(vec![room("lobby")]), 1);
        hub.set_remote(2, &user(2), Some(vec![room("lobby")]), 1);
        let events = of_type(&mut watcher, "presence");
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(hub.is_online(UserId(2)));
        assert_eq!(hub.state().online_count(&room("lobby")), 2);
        // Here too, then gone here: still online through the other nodes.
        let (conn, _rx) = online(&hub, 2, &["lobby"], 16);
        hub.disconnect(UserId(2), conn);
        assert!(of_type(&mut watcher, "presence").is_empty());
        hub.set_remote(1, &user(2), None, 2);
        assert!(of_type(&mut watcher, "presence").is_empty());
        // A heartbeat list older than what node 2 said since changes nothing.
        hub.set_remote(2, &user(2), Some(vec![room("lobby")]), 5);
        hub.replace_node(2, Vec::new(), 4);
        assert!(hub.is_online(UserId(2)));
        hub.replace_node(2, Vec::new(), Version::MAX);
        let offline = of_type(&mut watcher, "presence");
        assert_eq!(offline.len(), 1);
        assert!(offline[0].contains("\"online\":false"), "{offline:?}");
        assert!(!hub.is_online(UserId(2)));
    }
}
