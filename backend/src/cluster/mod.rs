//! Several nodes as one server: PostgreSQL holds the log and every sequence
//! number, Redis carries hints between the nodes (ARCHITECTURE.md, "Running
//! several nodes").
//!
//! - [`relay`] (rule in [`order`]): each channel to this node's members in seq
//!   order exactly once, whichever node committed it; gaps read back from the
//!   store, a head check every [`HEAD_CHECK`] and after every Redis reconnect.
//! - [`bus`]: the Redis pub/sub publisher and subscriber.
//! - [`presence`]: who is online on the other nodes (events + heartbeats with a
//!   time-to-live, a dead node reaped).
//! - [`limits`]: login attempts counted across nodes.
//! - [`wire`]: the events.
//!
//! Joins, leaves, typing and logouts are told to the other nodes here
//! ([`Cluster::joined`] …), so a user's tabs on other nodes follow.

pub mod bus;
pub mod limits;
pub mod lp;
pub mod order;
pub mod presence;
pub mod relay;
pub mod wire;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parley_common::{Channel, RoomName, ServerMsg};
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::outbox::{CloseReason, Frame};
use crate::store::{AuthUser, ChannelKey, Fanout, Store, TokenHash, UserId};
use bus::Bus;
use relay::{Hints, Relay};
use wire::{Event, WireKey, WireUser};

/// How often every tracked channel is compared with the store's head: the
/// longest a lost *last* message waits (a lost message with a successor is
/// fetched as soon as the successor arrives).
pub const HEAD_CHECK: Duration = Duration::from_millis(500);

/// `--redis` and its test switches.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// redis://host:port
    pub redis: String,
    /// Prefix of every key and channel (several clusters, or tests, on one Redis).
    pub prefix: String,
    /// Test-only fault: the share of hints dropped on purpose.
    pub drop_share: f64,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: u64,
    client: redis::Client,
    prefix: String,
    hub: Hub,
    bus: Arc<Bus>,
    relay: Relay,
    store: OnceLock<Store>,
    limits: limits::SharedLimits,
    forwarder: lp::Forwarder,
    /// Runs long-poll requests forwarded here (set by the HTTP layer).
    lp_server: OnceLock<Arc<dyn lp::LpServer>>,
    /// Signs long-poll ids; shared by the nodes through the database.
    secret: OnceLock<Vec<u8>>,
}

impl Cluster {
    /// Starts publishing (needs a tokio runtime). The store, opened with
    /// [`Cluster::fanout`], is handed over with [`Cluster::start`].
    pub fn new(
        config: &ClusterConfig,
        hub: &Hub,
        shutdown: &CancellationToken,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(config.redis.as_str())?;
        let node = getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id())) >> 11;
        let bus = bus::publisher(
            client.clone(),
            format!("{}:events", config.prefix),
            config.drop_share,
            shutdown.clone(),
        );
        let hints: Arc<dyn Hints> = bus.clone();
        let relay = Relay::new(node, hub.clone(), hints);
        hub.set_presence_hook(Arc::new(presence::Events {
            node,
            bus: Arc::clone(&bus),
        }));
        Ok(Self {
            inner: Arc::new(Inner {
                node,
                limits: limits::SharedLimits::new(client.clone(), &config.prefix),
                forwarder: lp::Forwarder::new(client.clone(), &config.prefix, node),
                lp_server: OnceLock::new(),
                secret: OnceLock::new(),
                client,
                prefix: config.prefix.clone(),
                hub: hub.clone(),
                bus,
                relay,
                store: OnceLock::new(),
            }),
        })
    }

    /// What the store's writer hands committed messages to.
    pub fn fanout(&self) -> Arc<dyn Fanout> {
        Arc::new(self.inner.relay.clone())
    }

    pub fn relay(&self) -> &Relay {
        &self.inner.relay
    }

    pub fn node(&self) -> u64 {
        self.inner.node
    }

    pub fn limits(&self) -> &limits::SharedLimits {
        &self.inner.limits
    }

    /// Hints dropped (full queue, Redis down, or the test switch).
    pub fn hints_dropped(&self) -> u64 {
        self.inner
            .bus
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads the cluster's shared secret, then starts listening, the head
    /// check and the presence heartbeat.
    pub async fn start(
        &self,
        store: Store,
        shutdown: &CancellationToken,
    ) -> Result<(), crate::store::StoreError> {
        let secret = store
            .cluster_secret()
            .await?
            .ok_or(crate::store::StoreError::Closed)?;
        let _ = self.inner.secret.set(secret);
        self.inner.relay.set_store(store.clone());
        let _ = self.inner.store.set(store);
        let heads = self.clone();
        let me = self.clone();
        let prefix = &self.inner.prefix;
        let channels = vec![
            format!("{prefix}:events"),
            lp::request_channel(prefix, self.inner.node),
            lp::reply_channel(prefix, self.inner.node),
        ];
        tokio::spawn(bus::subscriber(
            self.inner.client.clone(),
            channels,
            shutdown.clone(),
            move || {
                heads.inner.forwarder.fail_waiting();
                let relay = heads.inner.relay.clone();
                tokio::spawn(async move { relay.check_heads().await });
            },
            move |channel, payload| me.on_message(channel, payload),
        ));
        let relay = self.inner.relay.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEAD_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => relay.check_heads().await,
                    () = stop.cancelled() => break,
                }
            }
        });
        tokio::spawn(presence::heartbeat(
            self.inner.client.clone(),
            self.inner.prefix.clone(),
            self.inner.node,
            self.inner.hub.clone(),
            shutdown.clone(),
        ));
        Ok(())
    }

    fn send(&self, event: &Event) {
        self.inner.bus.send(event);
    }

    /// `user` joined `room` here: their tabs on other nodes follow it.
    pub fn joined(&self, user: UserId, room: &RoomName, last_seq: u64) {
        self.send(&Event::Joined {
            node: self.inner.node,
            user: user.0,
            room: room.clone(),
            last_seq,
        });
    }

    pub fn left(&self, user: UserId, room: &RoomName) {
        self.send(&Event::Left {
            node: self.inner.node,
            user: user.0,
            room: room.clone(),
        });
    }

    /// A typing signal accepted here, for the channel's members elsewhere.
    pub fn typing(&self, user: &AuthUser, channel: &Channel) {
        self.send(&Event::Typing {
            node: self.inner.node,
            user: WireUser::from(user),
            channel: channel.clone(),
        });
    }

    /// A poll created here, for the room's members elsewhere.
    pub fn new_poll(&self, room: &RoomName, info: &parley_common::PollInfo) {
        self.send(&Event::Poll {
            node: self.inner.node,
            room: room.clone(),
            info: info.clone(),
        });
    }

    /// `frame` for `user`'s tabs on the other nodes.
    pub fn to_user(&self, user: UserId, frame: &Frame) {
        self.send(&Event::ToUser {
            node: self.inner.node,
            user: user.0,
            frame: frame.as_str().to_owned(),
        });
    }

    /// A logout here: every node forgets the session and closes its tabs.
    pub fn revoke(&self, token: &TokenHash) {
        self.send(&Event::Revoke {
            node: self.inner.node,
            token: wire::token_hex(token),
        });
    }

    /// Sets what runs long-poll requests forwarded to this node.
    pub fn serve_long_polls(&self, server: Arc<dyn lp::LpServer>) {
        let _ = self.inner.lp_server.set(server);
    }

    /// A long-poll connection id for this node made of `random`, signed.
    pub fn sid(&self, random: &str) -> String {
        lp::signed_sid(self.secret(), self.inner.node, random)
    }

    fn secret(&self) -> &[u8] {
        self.inner.secret.get().map_or(&[], Vec::as_slice)
    }

    /// Runs `op` on connection `sid` of another node; `None` when that node is
    /// gone (the client opens a new connection and resumes).
    pub async fn forward_long_poll(
        &self,
        sid: &str,
        token: &TokenHash,
        op: lp::LpOp,
    ) -> Option<lp::LpReply> {
        let owner = lp::owner(self.secret(), sid)?;
        self.inner
            .forwarder
            .forward(owner, sid, wire::token_hex(token), op)
            .await
    }

    /// Whether connection `sid` lives on another node.
    pub fn is_remote_sid(&self, sid: &str) -> bool {
        lp::owner(self.secret(), sid).is_some_and(|n| n != self.inner.node)
    }

    fn on_message(&self, channel: &str, payload: &[u8]) {
        let prefix = &self.inner.prefix;
        if channel == lp::reply_channel(prefix, self.inner.node) {
            if let Ok(reply) = serde_json::from_slice(payload) {
                self.inner.forwarder.replied(reply);
            }
        } else if channel == lp::request_channel(prefix, self.inner.node) {
            let Ok(req) = serde_json::from_slice::<lp::LpRequest>(payload) else {
                tracing::warn!("undecodable forwarded long-poll request");
                return;
            };
            let Some(server) = self.inner.lp_server.get().cloned() else {
                return;
            };
            let me = self.clone();
            tokio::spawn(async move {
                let from = req.from;
                let reply = server.serve(req).await;
                me.inner.forwarder.reply(from, &reply).await;
            });
        } else {
            match serde_json::from_slice::<Event>(payload) {
                Ok(e) if e.node() != self.inner.node => self.on_event(e),
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "undecodable cluster event"),
            }
        }
    }

    fn on_event(&self, event: Event) {
        let hub = &self.inner.hub;
        match event {
            Event::Msg { key, msg, dm, .. } => {
                if let Some(a) = wire::appended(&key, msg, dm) {
                    self.inner.relay.offer(a);
                }
            }
            Event::Tally {
                key, poll, tally, ..
            } => {
                if let Some(key) = key.key() {
                    Fanout::tally(hub, &key, poll, &tally);
                }
            }
            Event::Typing { user, channel, .. } => hub.typing_from_node(&user.into(), &channel),
            Event::Presence {
                node,
                user,
                channels,
                version,
            } => {
                let channels =
                    channels.map(|keys| keys.iter().filter_map(WireKey::key).collect::<Vec<_>>());
                hub.set_remote(node, &user.into(), channels, version);
            }
            Event::Joined {
                user,
                room,
                last_seq,
                ..
            } => {
                let user = UserId(user);
                if !hub.has_local_user(user) {
                    return;
                }
                let key = ChannelKey::Room(room.clone());
                self.inner.relay.track_at(&key, last_seq);
                let online = hub.joined(user, &key);
                let joined = ServerMsg::Joined { room, last_seq };
                for msg in std::iter::once(joined).chain(online) {
                    if let Ok(json) = msg.to_json() {
                        hub.send_to_user(user, &Frame::from(json));
                    }
                }
            }
            Event::Left { user, room, .. } => {
                let user = UserId(user);
                if !hub.has_local_user(user) {
                    return;
                }
                hub.left(user, &ChannelKey::Room(room.clone()));
                if let Ok(json) = (ServerMsg::Left { room }).to_json() {
                    hub.send_to_user(user, &Frame::from(json));
                }
            }
            Event::Poll { room, info, .. } => {
                if let Ok(json) = ServerMsg::Poll(info).to_json() {
                    hub.broadcast(&ChannelKey::Room(room), &Frame::from(json));
                }
            }
            Event::ToUser { user, frame, .. } => {
                hub.send_to_user(UserId(user), &Frame::from(frame));
            }
            Event::Revoke { token, .. } => {
                if let Some(token) = wire::token_from_hex(&token) {
                    if let Some(store) = self.inner.store.get() {
                        store.forget_session(&token);
                    }
                    hub.close_session(token, CloseReason::LOGGED_OUT);
                }
            }
        }
    }
}
