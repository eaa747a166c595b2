//! `create_poll`, `vote`, `close_poll`, `get_poll` and `list_polls`.

use parley_common::{ErrorCode, PollProblem, PollSpec, ProtocolError, RoomName, ServerMsg};

use crate::session::Session;
use crate::session::store_error::{room_error, store_error};
use crate::store::ChannelKey;

pub(crate) async fn create_poll(
    session: &mut Session,
    room: RoomName,
    question: &str,
    options: &[String],
    closes_at: Option<u64>,
) -> Result<(), ProtocolError> {
    let spec = PollSpec::parse(question, options).map_err(poll_error)?;
    if closes_at.is_some_and(|t| t <= crate::clock::now_ms()) {
        return Err(ProtocolError::new(
            ErrorCode::BadMessage,
            "closes_at is in the past",
        ));
    }
    let info = session
        .store
        .create_poll(room.clone(), session.user.clone(), spec, closes_at)
        .await
        .map_err(room_error(&room))?;
    tracing::info!(user = %session.user.name, %room, poll = info.id, "created poll");
    if let Some(at) = closes_at {
        crate::hub::deadlines::close_at(
            session.store.clone(),
            session.shutdown.clone(),
            info.id,
            at,
        );
    }
    if let Some(cluster) = &session.cluster {
        cluster.new_poll(&room, &info);
    }
    if let Some(frame) = session.encode(&ServerMsg::Poll(info)) {
        session.hub.broadcast(&ChannelKey::Room(room), &frame);
    }
    Ok(())
}

pub(crate) async fn vote(
    session: &mut Session,
    poll: u64,
    option: u32,
) -> Result<(), ProtocolError> {
    session
        .store
        .vote(poll, session.user.id, option)
        .await
        .map_err(|e| store_error(&e, None))?;
    // The tally reaches the room through the coalescer; your choice
    // reaches all your tabs.
    session.to_all_tabs(&ServerMsg::MyVote { poll, option });
    if let Some(cluster) = &session.cluster
        && let Some(frame) = session.encode(&ServerMsg::MyVote { poll, option })
    {
        cluster.to_user(session.user.id, &frame);
    }
    Ok(())
}

/// No reply: the closed poll reaches the room, this tab included, as its final
/// tally, published by the store's writer (as a close at `closes_at` is).
pub(crate) async fn close_poll(session: &mut Session, poll: u64) -> Result<(), ProtocolError> {
    session
        .store
        .close_poll(poll, Some(session.user.id))
        .await
        .map_err(|e| store_error(&e, None))?;
    Ok(())
}

pub(crate) async fn get_poll(session: &mut Session, poll: u64) -> Result<(), ProtocolError> {
    let info = session
        .store
        .poll(poll, session.user.id)
        .await
        .map_err(|e| store_error(&e, None))?;
    session.reply(&ServerMsg::Poll(info));
    Ok(())
}

pub(crate) async fn list_polls(session: &mut Session, room: RoomName) -> Result<(), ProtocolError> {
    let polls = session
        .store
        .polls(room.clone(), session.user.id)
        .await
        .map_err(room_error(&room))?;
    session.reply(&ServerMsg::Polls { room, polls });
    Ok(())
}

/// Turns a refused new poll into the client's error.
fn poll_error(problem: PollProblem) -> ProtocolError {
    let code = match problem {
        PollProblem::EmptyQuestion
        | PollProblem::QuestionTooLong
        | PollProblem::ControlCharacter => ErrorCode::InvalidQuestion,
        PollProblem::TooFewOptions => ErrorCode::TooFewOptions,
        PollProblem::TooManyOptions => ErrorCode::TooManyOptions,
        PollProblem::EmptyOption | PollProblem::OptionTooLong => ErrorCode::InvalidOption,
        PollProblem::DuplicateOption => ErrorCode::DuplicateOption,
    };
    ProtocolError::new(code, problem.to_string())
}
