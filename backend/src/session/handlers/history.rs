//! `history`: one page of a room's or conversation's messages.

use parley_common::{Channel, HISTORY_PAGE, ProtocolError, ServerMsg};

use crate::session::Session;
use crate::session::store_error::store_error;

/// Sends the page before `before` (the latest page without it).
pub(crate) async fn history(
    session: &mut Session,
    channel: Channel,
    before: Option<u64>,
) -> Result<(), ProtocolError> {
    let page = session
        .store
        .history(channel.clone(), session.user.id, before, HISTORY_PAGE)
        .await
        .map_err(|e| store_error(&e, Some(&channel)))?;
    session.reply(&ServerMsg::History {
        channel: page.channel,
        messages: page.messages,
        has_more: page.has_more,
    });
    Ok(())
}
