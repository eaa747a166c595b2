//! `typing`: forwarded to the channel's other members, rate limited.

use std::time::{Duration, Instant};

use parley_common::{Channel, ProtocolError};

use crate::session::Session;
use crate::session::store_error::store_error;
use crate::store::StoreError;

/// Typing signals forwarded per channel and connection, at most one per this
/// (the window starts again when the connection sends a message there, see
/// [`super::send`]).
const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// Forwards a typing signal, at most one per channel per [`TYPING_INTERVAL`]
/// (the rest are dropped silently: they carry no information).
pub(crate) fn typing(session: &mut Session, channel: Channel) -> Result<(), ProtocolError> {
    let now = Instant::now();
    if session
        .typing
        .get(&channel)
        .is_some_and(|last| now.duration_since(*last) < TYPING_INTERVAL)
    {
        return Ok(());
    }
    if session.typing.len() > 64 {
        session
            .typing
            .retain(|_, last| now.duration_since(*last) < TYPING_INTERVAL);
    }
    session
        .hub
        .typing(&session.user, &channel)
        .map_err(|_| store_error(&StoreError::NotInRoom, Some(&channel)))?;
    if let Some(cluster) = &session.cluster {
        cluster.typing(&session.user, &channel);
    }
    session.typing.insert(channel, now);
    Ok(())
}
