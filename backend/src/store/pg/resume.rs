//! A resume on PostgreSQL, run by the writer task between two batches: every
//! message this node committed before it is in the replay (read after those
//! commits), every later one is published after `attach` returns.

use parley_common::{Channel, RESUME_LIMIT, ResumeFrom, ServerMsg};
use tokio_postgres::GenericClient;

use super::read::{range, user_named};
use crate::store::write::{MAX_RESUME_CHANNELS, missed_frames};
use crate::store::{AuthUser, ChannelKey, StoreError};

/// The `missed` / `too_far_behind` frames for `user` resuming `from`.
pub async fn replay(
    c: &impl GenericClient,
    user: &AuthUser,
    from: Vec<ResumeFrom>,
) -> Result<Vec<ServerMsg>, StoreError> {
    let mut frames = Vec::new();
    for point in from.into_iter().take(MAX_RESUME_CHANNELS) {
        let Some((room_id, channel, upto)) = target(c, user, point.channel).await? else {
            continue;
        };
        let after = point.seq;
        if after == upto {
            continue;
        }
        if after > upto || upto - after > RESUME_LIMIT {
            frames.push(ServerMsg::TooFarBehind {
                channel,
                last_seq: upto,
            });
            continue;
        }
        let messages = range(c, room_id, &channel, after, upto).await?;
        frames.extend(missed_frames(&channel, messages));
    }
    Ok(frames)
}

/// A resume point's room, its name as the user sees it and its latest seq;
/// `None` for channels the user is not in and conversations nobody wrote in.
async fn target(
    c: &impl GenericClient,
    user: &AuthUser,
    channel: Channel,
) -> Result<Option<(i64, Channel, u64)>, StoreError> {
    let (db_name, channel) = match channel {
        Channel::Room(room) => (room.as_str().to_owned(), Channel::Room(room)),
        Channel::Dm(name) => {
            let Some(peer) = user_named(c, &name).await? else {
                return Ok(None);
            };
            if peer.id == user.id {
                return Ok(None);
            }
            (
                ChannelKey::dm(user.id, peer.id).db_name(),
                Channel::Dm(peer.name),
            )
        }
    };
    let row = c
        .query_opt(
            "SELECT r.id, r.last_seq FROM rooms r JOIN memberships m ON m.room_id = r.id
             WHERE r.name = $1 AND m.user_id = $2",
            &[&db_name, &user.id.0],
        )
        .await?;
    row.map(|r| Ok((r.try_get(0)?, channel, super::u(r.try_get(1)?))))
        .transpose()
}
