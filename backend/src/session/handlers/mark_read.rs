//! `mark_read`: moves the user's read marker in a channel, for all their tabs.

use parley_common::{Channel, ProtocolError, ServerMsg};

use crate::session::Session;
use crate::session::store_error::store_error;

pub(crate) async fn mark_read(
    session: &mut Session,
    channel: Channel,
    seq: u64,
) -> Result<(), ProtocolError> {
    let (channel, seq) = session
        .store
        .mark_read(channel.clone(), session.user.clone(), seq)
        .await
        .map_err(|e| store_error(&e, Some(&channel)))?;
    session.to_all_tabs(&ServerMsg::ReadMarker { channel, seq });
    Ok(())
}
