//! `list_rooms`, `create_room`, `join` and `leave`: the rooms a user is in.

use parley_common::{Channel, ProtocolError, RoomName, ServerMsg};

use crate::session::Session;
use crate::session::handlers::history::history;
use crate::session::store_error::{room_error, store_error};
use crate::store::ChannelKey;

pub(crate) async fn list_rooms(session: &mut Session) -> Result<(), ProtocolError> {
    let rooms = session
        .store
        .room_list(session.user.id)
        .await
        .map_err(|e| store_error(&e, None))?;
    session.reply(&ServerMsg::RoomList { rooms });
    Ok(())
}

pub(crate) async fn create_room(
    session: &mut Session,
    room: RoomName,
) -> Result<(), ProtocolError> {
    session
        .store
        .create_room(room.clone(), session.user.id)
        .await
        .map_err(room_error(&room))?;
    tracing::info!(user = %session.user.name, %room, "created room");
    entered(session, room, 0).await
}

pub(crate) async fn join(session: &mut Session, room: RoomName) -> Result<(), ProtocolError> {
    let last_seq = session
        .store
        .join(room.clone(), session.user.id)
        .await
        .map_err(room_error(&room))?;
    entered(session, room, last_seq).await
}

pub(crate) async fn leave(session: &mut Session, room: RoomName) -> Result<(), ProtocolError> {
    session
        .store
        .leave(room.clone(), session.user.id)
        .await
        .map_err(room_error(&room))?;
    session
        .hub
        .left(session.user.id, &ChannelKey::Room(room.clone()));
    if let Some(cluster) = &session.cluster {
        cluster.left(session.user.id, &room);
    }
    session.to_all_tabs(&ServerMsg::Left { room });
    Ok(())
}

/// After a successful join or create: start delivery to all the user's tabs,
/// tell them, then send this tab the latest history page. Delivery starts
/// before the page is read, so no message falls between the two (the client
/// drops duplicates by sequence number).
async fn entered(
    session: &mut Session,
    room: RoomName,
    last_seq: u64,
) -> Result<(), ProtocolError> {
    let key = ChannelKey::Room(room.clone());
    if let Some(cluster) = &session.cluster {
        // Delivery here starts after `last_seq` (the page below covers it), and
        // the user's tabs on other nodes follow the room too.
        cluster.relay().track_at(&key, last_seq);
        cluster.joined(session.user.id, &room, last_seq);
    }
    let online = session.hub.joined(session.user.id, &key);
    session.to_all_tabs(&ServerMsg::Joined {
        room: room.clone(),
        last_seq,
    });
    if let Some(online) = online {
        session.to_all_tabs(&online);
    }
    history(session, Channel::Room(room), None).await
}
