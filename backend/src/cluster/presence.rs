//! Presence across nodes: every node tells the others at once when a user's
//! connections here come, change channels or go ([`Events`], a hub hook), and
//! every [`HEARTBEAT`] writes its whole online list to Redis with a
//! time-to-live and reads everyone else's. The heartbeat is what makes it
//! converge: a lost event is repaired by the next one, and a node that died
//! (SIGKILL: it says nothing) stops refreshing its entry, which expires after
//! [`TTL`] — its users then show offline everywhere else (unless they are
//! back on another node), and its entry is reaped from the node set.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use super::bus::Bus;
use super::relay::Hints;
use super::wire::{Event, WireKey, WireUser};
use crate::hub::remote::Version;
use crate::hub::{Hub, PresenceHook};
use crate::store::{AuthUser, ChannelKey};

/// How often a node writes its online list and reads the others'.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a node's list lives without a refresh (five missed heartbeats): a
/// killed node's users go offline elsewhere within TTL + HEARTBEAT (≤ 12 s).
pub const TTL: Duration = Duration::from_secs(10);

/// The hub hook: a local presence change, sent to the other nodes at once.
#[derive(Debug)]
pub struct Events {
    pub node: u64,
    pub bus: Arc<Bus>,
}

impl PresenceHook for Events {
    fn changed(&self, user: &AuthUser, channels: Option<&[ChannelKey]>, version: Version) {
        self.bus.send(&Event::Presence {
            node: self.node,
            user: WireUser::from(user),
            channels: channels.map(|c| c.iter().map(WireKey::from).collect()),
            version,
        });
    }
}

/// A node's whole online list at one version, as stored in Redis.
type Listing = (Vec<(WireUser, Vec<WireKey>)>, Version);

fn listing(hub: &Hub) -> Listing {
    let (users, version) = hub.local_users();
    let users = users
        .iter()
        .map(|(u, keys)| (WireUser::from(u), keys.iter().map(WireKey::from).collect()))
        .collect();
    (users, version)
}

fn parse((users, version): Listing) -> (Vec<(AuthUser, Vec<ChannelKey>)>, Version) {
    let users = users
        .into_iter()
        .map(|(u, keys)| (u.into(), keys.iter().filter_map(WireKey::key).collect()))
        .collect();
    (users, version)
}

/// The heartbeat task, until shutdown; then this node's entry is removed so
/// its users go offline elsewhere at once.
pub async fn heartbeat(
    client: redis::Client,
    prefix: String,
    node: u64,
    hub: Hub,
    shutdown: CancellationToken,
) {
    let nodes_key = format!("{prefix}:nodes");
    let node_key = |id: u64| format!("{prefix}:node:{id}");
    let mut conn = None;
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => break,
        }
        if conn.is_none() {
            conn = client.get_connection_manager().await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        let Ok(mine) = serde_json::to_string(&listing(&hub)) else {
            continue;
        };
        let members: redis::RedisResult<Vec<u64>> = redis::pipe()
            .cmd("SET")
            .arg(node_key(node))
            .arg(mine)
            .arg("EX")
            .arg(TTL.as_secs())
            .ignore()
            .cmd("SADD")
            .arg(&nodes_key)
            .arg(node)
            .ignore()
            .cmd("SMEMBERS")
            .arg(&nodes_key)
            .query_async::<(Vec<u64>,)>(c)
            .await
            .map(|(m,)| m);
        let others: Vec<u64> = match members {
            Ok(m) => m.into_iter().filter(|id| *id != node).collect(),
            Err(err) => {
                tracing::warn!(%err, "presence heartbeat failed");
                continue;
            }
        };
        let listed: HashSet<u64> = others.iter().copied().collect();
        if !others.is_empty() {
            let keys: Vec<String> = others.iter().map(|id| node_key(*id)).collect();
            let lists: redis::RedisResult<Vec<Option<String>>> = c.mget(keys).await;
            let Ok(lists) = lists else { continue };
            for (id, list) in others.iter().zip(lists) {
                match list.map(|l| serde_json::from_str::<Listing>(&l)) {
                    Some(Ok(l)) => {
                        let (users, version) = parse(l);
                        hub.replace_node(*id, users, version);
                    }
                    Some(Err(err)) => tracing::warn!(%err, node = id, "bad presence list"),
                    None => {
                        // Expired: the node is gone. Reap it.
                        tracing::info!(node = id, "cluster node gone; its users are offline here");
                        hub.replace_node(*id, Vec::new(), Version::MAX);
                        let _: redis::RedisResult<()> = c.srem(&nodes_key, *id).await;
                    }
                }
            }
        }
        // Nodes this hub still counts but the set no longer lists.
        for id in hub.remote_nodes() {
            if !listed.contains(&id) {
                hub.replace_node(id, Vec::new(), Version::MAX);
            }
        }
    }
    if let Some(c) = conn.as_mut() {
        let _: redis::RedisResult<()> = redis::pipe()
            .cmd("DEL")
            .arg(node_key(node))
            .ignore()
            .cmd("SREM")
            .arg(&nodes_key)
            .arg(node)
            .ignore()
            .query_async(c)
            .await;
    }
}
