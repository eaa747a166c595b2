//! `hello`: checks the protocol version, sends `welcome`, and attaches the
//! connection to the hub, after a replay of what it missed when it resumes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use parley_common::{Channel, ErrorCode, PROTOCOL_VERSION, ProtocolError, ResumeFrom, ServerMsg};

use crate::cluster::relay::ResumePoint;
use crate::session::store_error::store_error;
use crate::session::{Session, encode, lock};
use crate::store::{Attach, ChannelKey};

pub(crate) async fn hello(
    session: &mut Session,
    protocol: u32,
    resume: Vec<ResumeFrom>,
) -> Result<(), ProtocolError> {
    if session.greeted {
        return Err(ProtocolError::new(
            ErrorCode::AlreadyGreeted,
            "this connection already sent \"hello\"",
        ));
    }
    if protocol != PROTOCOL_VERSION {
        return Err(ProtocolError::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "this server speaks protocol {PROTOCOL_VERSION}, not {protocol}; reload the page"
            ),
        ));
    }
    let (rooms, conversations) = session
        .store
        .rooms_and_conversations(session.user.id)
        .await
        .map_err(|e| store_error(&e, None))?;
    let keys: Vec<ChannelKey> = rooms
        .iter()
        .map(|r| ChannelKey::Room(r.room.clone()))
        .chain(
            conversations
                .iter()
                .map(|c| ChannelKey::dm(session.user.id, c.peer)),
        )
        .collect();
    // The viewer's name of each channel → its key (for a cluster's resume).
    let named: HashMap<Channel, ChannelKey> = rooms
        .iter()
        .map(|r| {
            (
                Channel::Room(r.room.clone()),
                ChannelKey::Room(r.room.clone()),
            )
        })
        .chain(conversations.iter().map(|c| {
            (
                Channel::Dm(c.summary.with.clone()),
                ChannelKey::dm(session.user.id, c.peer),
            )
        }))
        .collect();
    // Each channel's latest seq, for a resume that cannot replay.
    let latest: HashMap<Channel, u64> = rooms
        .iter()
        .map(|r| (Channel::Room(r.room.clone()), r.last_seq))
        .chain(
            conversations
                .iter()
                .map(|c| (Channel::Dm(c.summary.with.clone()), c.summary.last_seq)),
        )
        .collect();
    let conversations = conversations
        .into_iter()
        .map(|c| parley_common::Conversation {
            online: session.hub.is_online(c.peer),
            ..c.summary
        })
        .collect();
    // `welcome` goes first: nothing is delivered before the connection is
    // attached to the hub below.
    session.reply(&ServerMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        user: session.user.name.clone(),
        rooms,
        conversations,
    });
    session.greeted = true;
    if let Some(cluster) = session.cluster.clone() {
        // Several nodes write: the relay knows this node's delivery point of
        // each channel, and attaches the connection there. A channel the
        // client does not resume starts from the seq its `welcome` named, so
        // a message committed between that read and the attach is replayed
        // rather than missed (found by the cluster benchmark's failover).
        let mut points: Vec<ResumePoint> = resume
            .into_iter()
            .filter_map(|r| {
                Some(ResumePoint {
                    key: named.get(&r.channel)?.clone(),
                    channel: r.channel,
                    after: r.seq,
                })
            })
            .collect();
        for (channel, key) in &named {
            if !points.iter().any(|p| &p.key == key) {
                points.push(ResumePoint {
                    key: key.clone(),
                    channel: channel.clone(),
                    after: latest.get(channel).copied().unwrap_or_default(),
                });
            }
        }
        let attach = attacher(session, keys.clone());
        cluster
            .relay()
            .attach(session.user.id, &keys, points, attach)
            .await;
    } else {
        resume_here(session, keys, resume, &latest).await;
    }
    tracing::info!(conn = %session.id, user = %session.user.name, "session started");
    Ok(())
}

/// A single node's resume: the store attaches the connection at a point in its
/// commit order.
async fn resume_here(
    session: &mut Session,
    keys: Vec<ChannelKey>,
    resume: Vec<ResumeFrom>,
    latest: &HashMap<Channel, u64>,
) {
    let attach = attacher(session, keys);
    if resume.is_empty() {
        attach(Vec::new());
    } else {
        // The store attaches the connection at a point in its commit order,
        // with the replay of what was missed before that point.
        let channels: Vec<Channel> = resume.iter().map(|r| r.channel.clone()).collect();
        let attached = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&attached);
        let attach = Arc::new(Mutex::new(Some(attach)));
        let in_store = Arc::clone(&attach);
        let result = session
            .store
            .resume(
                session.user.clone(),
                resume,
                Attach(Box::new(move |frames| {
                    if let Some(attach) = lock(&in_store).take() {
                        attach(frames);
                        flag.store(true, Ordering::Release);
                    }
                })),
            )
            .await;
        if let Err(err) = result {
            tracing::error!(conn = %session.id, %err, "resume failed; asking for a reload");
        }
        if !attached.load(Ordering::Acquire)
            && let Some(attach) = lock(&attach).take()
        {
            // Nothing replayed: the client reloads the latest pages.
            let reload = channels
                .into_iter()
                .map(|channel| ServerMsg::TooFarBehind {
                    last_seq: latest.get(&channel).copied().unwrap_or_default(),
                    channel,
                })
                .collect();
            attach(reload);
        }
    }
}

/// What attaches this connection to the hub: queue `frames` (a replay), then
/// register with the hub and queue who is online. Unless the session has
/// ended meanwhile (then nothing happens).
fn attacher(session: &Session, keys: Vec<ChannelKey>) -> Box<dyn FnOnce(Vec<ServerMsg>) + Send> {
    let hub = session.hub.clone();
    let user = session.user.clone();
    let (id, token) = (session.id, session.token);
    let outbox = session.outbox.clone();
    let alive = Arc::clone(&session.alive);
    Box::new(move |frames| {
        let alive = lock(&alive);
        if !*alive {
            return;
        }
        for msg in &frames {
            if let Some(frame) = encode(id, msg) {
                outbox.push(frame);
            }
        }
        for frame in hub.connect(&user, id, token, outbox.clone(), keys) {
            outbox.push(frame);
        }
    })
}
