//! A reconnecting client's resume: where each of its channels stands at the
//! request's place in the commit order, and (after the commit) the messages it
//! missed, read back as `missed` / `too_far_behind` frames.

use parley_common::{Channel, ChatMessage, RESUME_LIMIT, ResumeFrom, ServerMsg};

use super::{Attach, Done, Publish, Reply, Tables};
use crate::store::read::messages::range;
use crate::store::{AuthUser, StoreError};

/// Most channels one resume may name (a user with more is asked to reload the
/// rest: they get nothing replayed, and live delivery covers what comes next).
pub const MAX_RESUME_CHANNELS: usize = 1000;

/// A replay is split into `missed` frames of about this many bytes at most.
const MAX_REPLAY_FRAME_BYTES: usize = 256 * 1024;

/// One channel to replay: the messages after `after` up to `upto` of `room_id`.
pub struct ReplayTarget {
    room_id: i64,
    channel: Channel,
    after: u64,
    upto: u64,
}

impl Tables {
    pub(super) fn resume(
        &mut self,
        user: &AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
        reply: Reply<()>,
    ) -> Result<Done, StoreError> {
        let mut targets = Vec::with_capacity(from.len().min(MAX_RESUME_CHANNELS));
        for point in from.into_iter().take(MAX_RESUME_CHANNELS) {
            if let Some(target) = self.replay_target(user, point)? {
                targets.push(target);
            }
        }
        Ok(Done::new(reply, Ok(())).publishing(Some(Publish::Resume(targets, attach))))
    }

    /// Where a resume point stands now. The room's latest seq is read here, at the
    /// op's place in the batch: messages applied before it are replayed, the ones
    /// after it are published live. Channels the user is not in (any more), and
    /// conversations nobody wrote in, are skipped.
    fn replay_target(
        &mut self,
        user: &AuthUser,
        point: ResumeFrom,
    ) -> Result<Option<ReplayTarget>, StoreError> {
        let Ok((_, peer, Some(row))) = self.resolve(&point.channel, user)? else {
            return Ok(None);
        };
        if !self.is_member(user.id, row.id)? {
            return Ok(None);
        }
        // A conversation is named as the other user spells their name.
        let channel = match peer {
            Some(peer) => Channel::Dm(peer.name),
            None => point.channel,
        };
        Ok(Some(ReplayTarget {
            room_id: row.id,
            channel,
            after: point.seq,
            upto: row.last_seq,
        }))
    }

    /// Reads what each target missed (committed by now): a `missed` frame, or
    /// `too_far_behind` when it is more than [`RESUME_LIMIT`] or the client is
    /// ahead of the server.
    pub fn replay(&self, targets: Vec<ReplayTarget>) -> Vec<ServerMsg> {
        let mut frames = Vec::new();
        for t in targets {
            if t.after == t.upto {
                continue;
            }
            let too_far = ServerMsg::TooFarBehind {
                channel: t.channel.clone(),
                last_seq: t.upto,
            };
            if t.after > t.upto || t.upto - t.after > RESUME_LIMIT {
                frames.push(too_far);
                continue;
            }
            match range(&self.conn, t.room_id, &t.channel, t.after, t.upto) {
                Ok(messages) => frames.extend(missed_frames(&t.channel, messages)),
                Err(err) => {
                    // The client reloads the latest page instead.
                    tracing::error!(%err, "reading messages to replay failed");
                    frames.push(too_far);
                }
            }
        }
        frames
    }
}

/// `messages` as `missed` frames: several when the bodies are long, so no frame
/// is much bigger than a history page.
pub fn missed_frames(channel: &Channel, messages: Vec<ChatMessage>) -> Vec<ServerMsg> {
    let mut frames = Vec::new();
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for m in messages {
        bytes += m.body.as_str().len() + 128;
        chunk.push(m);
        if bytes >= MAX_REPLAY_FRAME_BYTES {
            frames.push(ServerMsg::Missed {
                channel: channel.clone(),
                messages: std::mem::take(&mut chunk),
            });
            bytes = 0;
        }
    }
    if !chunk.is_empty() {
        frames.push(ServerMsg::Missed {
            channel: channel.clone(),
            messages: chunk,
        });
    }
    frames
}
