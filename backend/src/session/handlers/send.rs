//! `send`: a chat or private message, acked once it is committed.

use futures_util::stream::FuturesOrdered;
use parley_common::{Channel, ClientMsgId, MessageBody, ServerMsg};

use crate::session::Session;
use crate::session::store_error::store_error;

/// Queues the message for storage without waiting for the commit (only for
/// room in the writer's queue, which is back-pressure: meanwhile this
/// connection is not read); the ack (or error) is sent by
/// [`Session::answer_next`] once it is stored.
pub(crate) async fn send(
    session: &mut Session,
    channel: Channel,
    client_id: ClientMsgId,
    body: MessageBody,
) {
    // A message ends the sender's typing: the next keystroke starts typing
    // anew and is forwarded at once, not dropped as a repeat of the typing
    // that came before the message (which made "is typing…" show up to a
    // second late right after a send).
    session.typing.remove(&channel);
    let stored = session
        .store
        .append(
            channel.clone(),
            session.user.clone(),
            client_id.clone(),
            body,
        )
        .await;
    let in_flight = session.in_flight.get_or_insert_with(FuturesOrdered::new);
    in_flight.push_back(Box::pin(async move {
        match stored.await {
            // Committed and broadcast; a retry gets the original seq.
            Ok(appended) => ServerMsg::Ack {
                client_id: appended.msg.client_id,
                channel: appended.msg.channel,
                seq: appended.msg.seq,
            },
            Err(e) => store_error(&e, Some(&channel))
                .with_client_id(Some(client_id))
                .to_server_msg(),
        }
    }));
}
