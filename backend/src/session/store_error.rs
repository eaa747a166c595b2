//! The client's error for a store refusal.

use parley_common::{Channel, ErrorCode, ProtocolError, RoomName};

use crate::store::StoreError;

/// Turns a store refusal into the client's error, naming the room or
/// conversation when the request named one (poll requests name only a poll);
/// failures are logged.
pub(crate) fn store_error(err: &StoreError, channel: Option<&Channel>) -> ProtocolError {
    let channel = channel.map_or_else(|| "that room".to_owned(), ToString::to_string);
    match err {
        StoreError::NoSuchRoom => {
            ProtocolError::new(ErrorCode::NoSuchRoom, format!("there is no room {channel}"))
        }
        StoreError::NotInRoom => ProtocolError::new(
            ErrorCode::NotInRoom,
            format!("you are not in {channel}: join it first"),
        ),
        StoreError::RoomExists => ProtocolError::new(
            ErrorCode::RoomExists,
            format!("room {channel} already exists"),
        ),
        StoreError::UnknownUser => ProtocolError::new(
            ErrorCode::UnknownUser,
            format!("there is no user {channel}"),
        ),
        StoreError::CannotMessageSelf => ProtocolError::new(
            ErrorCode::CannotMessageSelf,
            "private messages go to someone else",
        ),
        StoreError::BadReadMarker(why) => {
            ProtocolError::new(ErrorCode::BadReadMarker, format!("read marker {why}"))
        }
        StoreError::NoSuchPoll => {
            ProtocolError::new(ErrorCode::NoSuchPoll, "there is no such poll")
        }
        StoreError::PollClosed => ProtocolError::new(ErrorCode::PollClosed, "the poll is closed"),
        StoreError::NoSuchOption => {
            ProtocolError::new(ErrorCode::NoSuchOption, "the poll has no such option")
        }
        StoreError::NotPollCreator => ProtocolError::new(
            ErrorCode::NotPollCreator,
            "only the poll's creator can close it",
        ),
        StoreError::Busy => ProtocolError::new(
            ErrorCode::ServerBusy,
            "the server is busy: nothing was changed; try again in a moment",
        ),
        StoreError::NameTaken
        | StoreError::Db(_)
        | StoreError::Pg(_)
        | StoreError::Closed
        | StoreError::Aborted => {
            tracing::error!(%err, "store request failed");
            ProtocolError::new(
                ErrorCode::Internal,
                "something went wrong on the server; nothing was changed",
            )
        }
    }
}

/// [`store_error`] for a request that named `room`, for `map_err`.
pub(crate) fn room_error(room: &RoomName) -> impl FnOnce(StoreError) -> ProtocolError + '_ {
    move |err| store_error(&err, Some(&Channel::Room(room.clone())))
}
