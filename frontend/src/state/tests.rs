//! The reducer's tests: sequences of actions in, state (and outbox) out.

mod conversations;
mod network;
mod polls;

use parley_common::ChatMessage;

use super::*;
use crate::auth::{AuthField, AuthProblem};
use crate::transport::Transport;

fn name(s: &str) -> Username {
    Username::parse(s).unwrap()
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

/// The room `s`, as a channel.
fn ch(s: &str) -> Channel {
    Channel::Room(room(s))
}

/// The conversation with `s`.
fn dm(s: &str) -> Channel {
    Channel::Dm(name(s))
}

/// The clock, in ms, for actions that carry it.
const NOW: u64 = 1_700_000_100_000;

fn id(s: &str) -> ClientMsgId {
    ClientMsgId::parse(s).unwrap()
}

fn body(s: &str) -> MessageBody {
    MessageBody::parse(s).unwrap()
}

fn msg(room_name: &str, seq: u64, sender: &str, text: &str, client_id: &str) -> ChatMessage {
    in_chat(ch(room_name), seq, sender, text, client_id)
}

fn in_chat(channel: Channel, seq: u64, sender: &str, text: &str, client_id: &str) -> ChatMessage {
    ChatMessage {
        channel,
        seq,
        sender: name(sender),
        body: body(text),
        ts: 1_700_000_000_000 + seq,
        client_id: id(client_id),
    }
}

/// Messages `from..=to` of `room_name`, by Bob.
fn page(room_name: &str, from: u64, to: u64) -> Vec<ChatMessage> {
    (from..=to)
        .map(|seq| {
            msg(
                room_name,
                seq,
                "Bob",
                &format!("m{seq}"),
                &format!("b{seq}"),
            )
        })
        .collect()
}

fn apply(state: Rc<AppState>, actions: impl IntoIterator<Item = Action>) -> Rc<AppState> {
    actions.into_iter().fold(state, Reducible::reduce)
}

/// A frame on the current connection of `state`.
fn recv(state: &AppState, msg: ServerMsg) -> Action {
    Action::Received {
        conn: state.conn_id,
        msg,
        now_ms: NOW,
    }
}

fn feed(state: Rc<AppState>, msgs: impl IntoIterator<Item = ServerMsg>) -> Rc<AppState> {
    msgs.into_iter().fold(state, |state, msg| {
        let action = recv(&state, msg);
        state.reduce(action)
    })
}

/// Alice's `welcome`, every room read up to its last message.
fn welcome(rooms: &[(&str, u64)]) -> ServerMsg {
    let rooms: Vec<(&str, u64, u64)> = rooms.iter().map(|&(r, seq)| (r, seq, seq)).collect();
    welcome_with(&rooms, vec![])
}

/// Alice's `welcome`: rooms as (name, last_seq, last_read), and conversations.
fn welcome_with(rooms: &[(&str, u64, u64)], conversations: Vec<Conversation>) -> ServerMsg {
    ServerMsg::Welcome {
        protocol: parley_common::PROTOCOL_VERSION,
        user: name("Alice"),
        rooms: rooms
            .iter()
            .map(|&(r, last_seq, last_read)| MyRoom {
                room: room(r),
                last_seq,
                last_read,
            })
            .collect(),
        conversations,
    }
}

fn history(room_name: &str, messages: Vec<ChatMessage>, has_more: bool) -> ServerMsg {
    ServerMsg::History {
        channel: ch(room_name),
        messages,
        has_more,
    }
}

/// Alice is logged in, her connection is open and `welcome` listed `rooms`.
fn connected(rooms: &[(&str, u64)]) -> Rc<AppState> {
    let state = apply(
        Rc::new(AppState::default()),
        [
            Action::SessionChecked(Some(name("Alice"))),
            Action::Opened {
                conn: 1,
                transport: Transport::WebSocket,
            },
        ],
    );
    feed(state, [welcome(rooms)])
}

/// Connected, in the lobby (empty) and "rust" (3 messages), with the lobby's
/// (empty) history loaded and the outbox flushed.
fn chatting() -> Rc<AppState> {
    let state = connected(&[("lobby", 0), ("rust", 3)]);
    let state = feed(state, [history("lobby", vec![], false)]);
    flushed(state)
}

/// The connection drops (1006, no close frame) and the user reconnects.
fn dropped_and_reconnected(state: Rc<AppState>) -> Rc<AppState> {
    let conn = state.conn_id;
    apply(
        state,
        [
            Action::Closed {
                conn,
                code: Some(1006),
                reason: String::new(),
            },
            Action::Reconnect { conn },
        ],
    )
}

/// Marks everything in the outbox sent.
fn flushed(state: Rc<AppState>) -> Rc<AppState> {
    let upto = state.next_out;
    state.reduce(Action::Flushed { upto })
}

/// The outbox's messages (what the root component would send now).
fn sent(state: &AppState) -> Vec<ClientMsg> {
    state.outgoing_from(0).map(|o| o.msg.clone()).collect()
}

fn seqs(room: &Chat) -> Vec<u64> {
    room.messages.iter().map(|m| m.seq).collect()
}

fn shown<'a>(state: &'a AppState, room_name: &str) -> &'a Chat {
    state.chat(&ch(room_name)).unwrap()
}

fn history_req(room_name: &str, before: Option<u64>) -> ClientMsg {
    ClientMsg::History {
        channel: ch(room_name),
        before,
    }
}

fn polls_req(room_name: &str) -> ClientMsg {
    ClientMsg::ListPolls {
        room: room(room_name),
    }
}

// ---------- session ----------

#[test]
fn starts_checking_the_session_without_a_connection() {
    let state = AppState::default();
    assert_eq!(state.session, Session::Checking);
    assert_eq!(state.conn_id, 0);
    assert_eq!(state.conn.as_str(), "closed");
    assert_eq!(state.pending_count(), 0);
    assert!(!state.can_reconnect());
}

#[test]
fn no_session_shows_the_login_page_and_signing_in_connects() {
    let state = Rc::new(AppState::default()).reduce(Action::SessionChecked(None));
    assert_eq!(state.session, Session::SignedOut);
    assert_eq!(state.conn_id, 0);

    let state = apply(
        state,
        [
            Action::AuthSubmitted,
            Action::AuthFailed(AuthProblem::form("Wrong user name or password.")),
        ],
    );
    assert!(!state.auth_busy);
    assert_eq!(state.auth_problem.as_ref().unwrap().field, AuthField::Form);
    let state = state.reduce(Action::AuthEdited);
    assert_eq!(state.auth_problem, None);

    let state = apply(state, [Action::AuthSubmitted]);
    assert!(state.auth_busy);
    let state = state.reduce(Action::SignedIn(name("Alice")));
    assert_eq!(state.me(), Some(&name("Alice")));
    assert!(!state.auth_busy);
    assert_eq!(state.conn, ConnState::Connecting);
    assert_eq!(state.conn_id, 1);
    // A second success (double submit) does not open a second connection.
    let again = state.clone().reduce(Action::SignedIn(name("Alice")));
    assert!(Rc::ptr_eq(&state, &again));
}

#[test]
fn welcome_confirms_the_user_and_lists_the_rooms() {
    let state = connected(&[("rust", 3), ("lobby", 0)]);
    assert!(state.ready);
    assert_eq!(state.conn, ConnState::Open);
    let names: Vec<&str> = state
        .rooms
        .iter()
        .map(|r| r.channel.room().unwrap().as_str())
        .collect();
    assert_eq!(names, ["lobby", "rust"]);
    assert_eq!(shown(&state, "rust").last_seq, 3);
    // The lobby is shown first, and its history is asked for.
    assert_eq!(state.active, Some(ch("lobby")));
    assert!(shown(&state, "lobby").loading);
    // And its polls.
    assert_eq!(
        sent(&state),
        [history_req("lobby", None), polls_req("lobby")]
    );
    assert_eq!(state.received, 0);
}

#[test]
fn without_a_lobby_the_first_room_is_shown() {
    let state = connected(&[("zeta", 0), ("alpha", 0)]);
    assert_eq!(state.active, Some(ch("alpha")));
    let state = connected(&[]);
    assert_eq!(state.active, None);
    assert!(sent(&state).is_empty());
}

#[test]
fn the_room_named_at_startup_is_shown_if_the_user_is_in_it() {
    let start = |room: &str| {
        let state = Rc::new(AppState::opening(Some(ch(room))));
        let state = apply(
            state,
            [
                Action::SessionChecked(Some(name("Alice"))),
                Action::Opened {
                    conn: 1,
                    transport: Transport::WebSocket,
                },
            ],
        );
        feed(state, [welcome(&[("lobby", 0), ("rust", 3)])])
    };
    let state = start("rust");
    assert_eq!(state.active, Some(ch("rust")));
    assert_eq!(sent(&state), [history_req("rust", None), polls_req("rust")]);
    // Not (or no longer) one of hers: the lobby instead.
    let state = start("elsewhere");
    assert_eq!(state.active, Some(ch("lobby")));
}

#[test]
fn logout_resets_everything() {
    let state = chatting();
    let state = apply(
        state,
        [
            Action::Select(ch("rust")),
            Action::Queue {
                channel: ch("rust"),
                client_id: id("c1"),
                body: body("hi"),
            },
            Action::OpenDirectory,
            Action::ShowError("oops".into()),
            Action::LoggingOut,
        ],
    );
    let conn = state.conn_id;
    let next_out = state.next_out;
    // This tab logged out: the server's close (4001) arrives, then the HTTP answer.
    let closed = Action::Closed {
        conn,
        code: Some(parley_common::close::LOGGED_OUT),
        reason: "logged out".into(),
    };
    let state = apply(state, [closed, Action::SignedOut { notice: None }]);
    assert_eq!(state.session, Session::SignedOut);
    assert_eq!(state.auth_notice, None);
    assert!(state.rooms.is_empty());
    assert_eq!(state.active, None);
    assert_eq!(state.view, View::Chat);
    assert_eq!(state.directory, Directory::default());
    assert_eq!(state.error, None);
    assert_eq!(state.pending_count(), 0);
    assert!(state.outbox.is_empty());
    assert!(!state.logging_out);
    // The old connection is closed (its id moved on) and no new one is wanted.
    assert!(state.conn_id > conn);
    assert_eq!(state.conn, ConnState::Idle);
    assert!(!state.ready);
    // Ids of outgoing messages never repeat, across sessions too.
    assert!(state.next_out >= next_out);

    // Logging in again starts from scratch on a fresh connection.
    let state = state.reduce(Action::SignedIn(name("Bob")));
    assert!(state.conn_id > conn + 1);
    assert_eq!(state.received, 0);
}

#[test]
fn logged_out_in_another_tab_shows_why() {
    let state = chatting();
    let state = state.clone().reduce(Action::Closed {
        conn: state.conn_id,
        code: Some(4001),
        reason: "logged out".into(),
    });
    assert_eq!(state.session, Session::SignedOut);
    assert_eq!(state.auth_notice.as_deref(), Some("You were logged out."));
}

#[test]
fn session_expired_goes_back_to_the_login_page() {
    let state = chatting().reduce(Action::SignedOut {
        notice: Some("Your session ended.".into()),
    });
    assert_eq!(state.session, Session::SignedOut);
    assert_eq!(state.auth_notice.as_deref(), Some("Your session ended."));
    // Events of the connection that was open are stale now.
    let stale = state.clone().reduce(Action::Received {
        conn: state.conn_id - 1,
        msg: welcome(&[("lobby", 0)]),
        now_ms: NOW,
    });
    assert!(Rc::ptr_eq(&state, &stale));
}

// ---------- history ----------

#[test]
fn history_pages_are_prepended_in_seq_order() {
    let state = connected(&[("lobby", 120)]);
    let state = flushed(feed(
        state,
        [history("lobby", page("lobby", 71, 120), true)],
    ));
    let lobby = shown(&state, "lobby");
    assert!(lobby.loaded && !lobby.loading && lobby.has_more);
    assert_eq!(lobby.messages.len(), 50);

    // Scrolled to the top: the page before the oldest message shown.
    let state = state.reduce(Action::LoadOlder(ch("lobby")));
    assert_eq!(sent(&state), [history_req("lobby", Some(71))]);
    assert!(shown(&state, "lobby").loading);
    // Scrolling on while it loads asks nothing more.
    let again = state.clone().reduce(Action::LoadOlder(ch("lobby")));
    assert!(Rc::ptr_eq(&state, &again));

    let state = flushed(feed(state, [history("lobby", page("lobby", 21, 70), true)]));
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), (21..=120).collect::<Vec<_>>());
    assert!(lobby.has_more && !lobby.loading);

    let state = state.reduce(Action::LoadOlder(ch("lobby")));
    let state = flushed(feed(state, [history("lobby", page("lobby", 1, 20), false)]));
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), (1..=120).collect::<Vec<_>>());
    assert!(!lobby.has_more);
    // The beginning is reached: nothing more to ask.
    let done = state.clone().reduce(Action::LoadOlder(ch("lobby")));
    assert!(Rc::ptr_eq(&state, &done));
}

#[test]
fn history_is_deduplicated_by_seq() {
    let state = connected(&[("lobby", 5)]);
    let state = feed(
        state,
        [
            // Live messages arrive before the page that also holds them.
            ServerMsg::Message(msg("lobby", 5, "Bob", "m5", "b5")),
            ServerMsg::Message(msg("lobby", 4, "Bob", "m4", "b4")),
            history("lobby", page("lobby", 1, 5), false),
            history("lobby", page("lobby", 3, 5), true),
        ],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), [1, 2, 3, 4, 5]);
    // The second page starts later than what is shown: it says nothing about
    // what lies before seq 1.
    assert!(!lobby.has_more);
}

#[test]
fn an_empty_page_means_the_beginning() {
    let state = connected(&[("lobby", 0)]);
    let state = feed(state, [history("lobby", vec![], false)]);
    let lobby = shown(&state, "lobby");
    assert!(lobby.loaded && !lobby.has_more && lobby.messages.is_empty());
}

#[test]
fn live_messages_are_ordered_and_counted() {
    let state = chatting();
    let state = feed(
        state,
        [
            ServerMsg::Message(msg("lobby", 2, "Bob", "second", "b2")),
            ServerMsg::Message(msg("lobby", 1, "Bob", "first", "b1")),
            ServerMsg::Message(msg("lobby", 2, "Bob", "second again", "b2")),
            ServerMsg::Message(msg("rust", 4, "Bob", "elsewhere", "b4")),
            // Not one of Alice's rooms: counted, not shown.
            ServerMsg::Message(msg("other", 1, "Bob", "??", "b9")),
        ],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), [1, 2]);
    assert_eq!(lobby.messages[1].body.as_str(), "second");
    assert_eq!(seqs(shown(&state, "rust")), [4]);
    assert_eq!(shown(&state, "rust").last_seq, 4);
    assert_eq!(state.received, 5);
}

// ---------- rooms ----------

#[test]
fn switching_rooms_loads_each_room_once() {
    let state = chatting();
    let state = state.reduce(Action::Select(ch("rust")));
    assert_eq!(state.active, Some(ch("rust")));
    assert_eq!(sent(&state), [history_req("rust", None), polls_req("rust")]);
    let state = flushed(feed(state, [history("rust", page("rust", 1, 3), false)]));

    // Back to the lobby and to rust again: both are loaded, nothing is asked.
    let state = apply(
        state,
        [Action::Select(ch("lobby")), Action::Select(ch("rust"))],
    );
    assert_eq!(state.active, Some(ch("rust")));
    assert!(sent(&state).is_empty());
    assert_eq!(seqs(shown(&state, "rust")), [1, 2, 3]);

    // Not one of the user's rooms: ignored.
    let same = state.clone().reduce(Action::Select(ch("nope")));
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn selecting_a_room_closes_the_directory_and_the_menu() {
    let state = apply(
        chatting(),
        [Action::SetSidebar(true), Action::OpenDirectory],
    );
    assert_eq!(state.view, View::Directory);
    assert!(!state.sidebar_open);
    assert_eq!(sent(&state), [ClientMsg::ListRooms]);
    assert!(state.directory.loading);
    let state = apply(
        state,
        [Action::SetSidebar(true), Action::Select(ch("lobby"))],
    );
    assert_eq!(state.view, View::Chat);
    assert!(!state.sidebar_open);
}

#[test]
fn joining_from_the_directory_opens_the_room() {
    let state = chatting().reduce(Action::OpenDirectory);
    let state = flushed(feed(
        state,
        [ServerMsg::RoomList {
            rooms: vec![
                RoomInfo {
                    room: room("rust"),
                    members: 2,
                    joined: true,
                },
                RoomInfo {
                    room: room("games"),
                    members: 3,
                    joined: false,
                },
            ],
        }],
    ));
    let listed = state.directory.rooms.as_ref().unwrap();
    assert_eq!(listed[0].room, room("games"));
    assert!(!state.directory.loading);

    let state = state.reduce(Action::JoinRoom(room("games")));
    assert_eq!(
        sent(&state),
        [ClientMsg::Join {
            room: room("games")
        }]
    );
    let state = feed(
        state,
        [ServerMsg::Joined {
            room: room("games"),
            last_seq: 60,
        }],
    );
    assert_eq!(state.active, Some(ch("games")));
    assert_eq!(state.view, View::Chat);
    assert_eq!(state.directory.joining, None);
    let games = shown(&state, "games");
    // Its history follows the `joined`: not asked again. What was said before
    // joining is not news: it is marked read, and no divider is shown.
    assert!(games.loading);
    assert_eq!(
        sent(&state)[1..],
        [
            ClientMsg::MarkRead {
                channel: ch("games"),
                seq: 60
            },
            polls_req("games")
        ]
    );
    assert_eq!((games.unread(), games.divider), (0, None));
    let info = &state.directory.rooms.as_ref().unwrap()[0];
    assert!(info.joined);
    assert_eq!(info.members, 4);

    let state = feed(state, [history("games", page("games", 11, 60), true)]);
    let games = shown(&state, "games");
    assert!(games.loaded && games.has_more && !games.loading);
}

#[test]
fn joined_and_left_in_another_tab_update_the_list_only() {
    let state = chatting();
    let state = flushed(feed(
        state,
        [ServerMsg::Joined {
            room: room("games"),
            last_seq: 0,
        }],
    ));
    assert!(state.chat(&ch("games")).is_some());
    // This tab keeps showing what it showed.
    assert_eq!(state.active, Some(ch("lobby")));
    assert!(!shown(&state, "games").loading);

    let state = feed(state, [ServerMsg::Left { room: room("rust") }]);
    let names: Vec<&str> = state
        .rooms
        .iter()
        .map(|r| r.channel.room().unwrap().as_str())
        .collect();
    assert_eq!(names, ["games", "lobby"]);
    assert_eq!(state.active, Some(ch("lobby")));
}

#[test]
fn leaving_the_active_room_shows_another() {
    let state = chatting().reduce(Action::Select(ch("rust")));
    let state = flushed(feed(state, [history("rust", page("rust", 1, 3), false)]));
    let state = state.reduce(Action::LeaveRoom(room("rust")));
    assert_eq!(sent(&state), [ClientMsg::Leave { room: room("rust") }]);
    // Nothing changes until the server confirms.
    assert_eq!(state.active, Some(ch("rust")));
    let state = feed(state, [ServerMsg::Left { room: room("rust") }]);
    assert_eq!(state.active, Some(ch("lobby")));
    assert!(state.chat(&ch("rust")).is_none());

    let state = feed(
        state,
        [ServerMsg::Left {
            room: room("lobby"),
        }],
    );
    assert_eq!(state.active, None);
    assert!(state.rooms.is_empty());
}

#[test]
fn creating_a_room_opens_it_or_explains_why_not() {
    let state = chatting().reduce(Action::OpenDirectory);
    let state = flushed(feed(state, [ServerMsg::RoomList { rooms: vec![] }]));
    let state = state.reduce(Action::CreateRoom(room("games")));
    assert_eq!(
        sent(&state),
        [ClientMsg::CreateRoom {
            room: room("games")
        }]
    );
    let taken = feed(
        state.clone(),
        [ServerMsg::Error {
            code: ErrorCode::RoomExists,
            message: "room exists".into(),
            client_id: None,
        }],
    );
    assert_eq!(taken.directory.creating, None);
    assert!(
        taken
            .directory
            .create_error
            .as_deref()
            .unwrap()
            .contains("#games already exists")
    );
    // Shown under the form, not in the banner.
    assert_eq!(taken.error, None);
    let edited = taken.reduce(Action::CreateEdited);
    assert_eq!(edited.directory.create_error, None);

    let created = feed(
        state,
        [
            ServerMsg::Joined {
                room: room("games"),
                last_seq: 0,
            },
            history("games", vec![], false),
        ],
    );
    assert_eq!(created.active, Some(ch("games")));
    assert_eq!(created.view, View::Chat);
    let games = shown(&created, "games");
    assert!(games.loaded && !games.has_more);
    let listed = created.directory.rooms.as_ref().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].members, 1);
}

#[test]
fn joining_a_vanished_room_says_so_and_refreshes_the_list() {
    let state = flushed(chatting().reduce(Action::OpenDirectory));
    let state = flushed(state.reduce(Action::JoinRoom(room("gone"))));
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::NoSuchRoom,
            message: "no such room".into(),
            client_id: None,
        }],
    );
    assert_eq!(state.directory.joining, None);
    assert!(state.error.as_ref().unwrap().text.contains("#gone"));
    assert_eq!(sent(&state), [ClientMsg::ListRooms]);
}

// ---------- sending ----------

fn queue(room_name: &str, client_id: &str, text: &str) -> Action {
    Action::Queue {
        channel: ch(room_name),
        client_id: id(client_id),
        body: body(text),
    }
}

#[test]
fn a_message_is_pending_until_its_echo_then_the_ack_is_harmless() {
    let state = chatting().reduce(queue("lobby", "c1", "hi"));
    assert_eq!(state.pending_count(), 1);
    assert_eq!(
        sent(&state),
        [ClientMsg::Send {
            channel: ch("lobby"),
            client_id: id("c1"),
            body: body("hi"),
        }]
    );
    // Someone else's message with the same client id does not settle it.
    let state = feed(
        state,
        [ServerMsg::Message(msg("lobby", 1, "Bob", "hi", "c1"))],
    );
    assert_eq!(state.pending_count(), 1);

    let state = feed(
        state,
        [
            ServerMsg::Message(msg("lobby", 2, "Alice", "hi", "c1")),
            ServerMsg::Ack {
                client_id: id("c1"),
                channel: ch("lobby"),
                seq: 2,
            },
        ],
    );
    assert_eq!(state.pending_count(), 0);
    assert!(shown(&state, "lobby").pending.is_empty());
    assert_eq!(seqs(shown(&state, "lobby")), [1, 2]);
}

#[test]
fn an_ack_before_the_echo_keeps_one_copy_shown() {
    let state = chatting().reduce(queue("lobby", "c1", "hi"));
    let state = feed(
        state,
        [ServerMsg::Ack {
            client_id: id("c1"),
            channel: ch("lobby"),
            seq: 1,
        }],
    );
    // Stored: no longer counted as pending, but still shown until the message
    // itself arrives.
    assert_eq!(state.pending_count(), 0);
    let lobby = shown(&state, "lobby");
    assert_eq!(lobby.pending[0].acked, Some(1));
    assert!(lobby.messages.is_empty());

    let state = feed(
        state,
        [ServerMsg::Message(msg("lobby", 1, "Alice", "hi", "c1"))],
    );
    let lobby = shown(&state, "lobby");
    assert!(lobby.pending.is_empty());
    assert_eq!(seqs(lobby), [1]);
}

#[test]
fn a_message_written_offline_is_sent_on_reconnect_and_settled_by_missed() {
    // Sent offline; on the next connection it goes out again. The server had
    // stored it already: it only acks, and the message comes with what the
    // lobby missed.
    let state = chatting();
    let conn = state.conn_id;
    let state = apply(
        state,
        [
            Action::Closed {
                conn,
                code: Some(1006),
                reason: String::new(),
            },
            queue("lobby", "c1", "hi"),
        ],
    );
    assert!(sent(&state).is_empty());
    assert_eq!(state.pending_count(), 1);

    let state = state.reduce(Action::Reconnect { conn });
    let state = state.clone().reduce(Action::Opened {
        conn: state.conn_id,
        transport: Transport::WebSocket,
    });
    let state = feed(state, [welcome(&[("lobby", 1), ("rust", 3)])]);
    // The lobby has a message it has not seen: it comes as `missed` (the lobby
    // resumed), not with a page; the pending message is re-sent with the same
    // client id.
    assert_eq!(
        sent(&state),
        [
            polls_req("lobby"),
            ClientMsg::Send {
                channel: ch("lobby"),
                client_id: id("c1"),
                body: body("hi"),
            }
        ]
    );
    assert_eq!(state.pending_count(), 1);
    let state = feed(
        state,
        [
            ServerMsg::Missed {
                channel: ch("lobby"),
                messages: vec![msg("lobby", 1, "Alice", "hi", "c1")],
            },
            ServerMsg::Ack {
                client_id: id("c1"),
                channel: ch("lobby"),
                seq: 1,
            },
        ],
    );
    let lobby = shown(&state, "lobby");
    assert!(lobby.pending.is_empty());
    assert_eq!(seqs(lobby), [1]);
}

#[test]
fn a_rejected_message_is_marked_failed_in_its_room() {
    let state = apply(
        chatting(),
        [queue("lobby", "c1", "one"), queue("lobby", "c2", "two")],
    );
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::BodyTooLong,
            message: "body too long".into(),
            client_id: Some(id("c1")),
        }],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!(lobby.pending[0].failed.as_deref(), Some("body too long"));
    assert_eq!(lobby.pending[1].failed, None);
    assert_eq!(state.pending_count(), 1);
    // Shown inline, not in the banner.
    assert_eq!(state.error, None);

    let discard = |client_id: &str| Action::DiscardFailed {
        channel: ch("lobby"),
        client_id: id(client_id),
    };
    let state = state.reduce(discard("c1"));
    assert_eq!(shown(&state, "lobby").pending.len(), 1);
    // Discarding only applies to failed messages.
    let state = state.reduce(discard("c2"));
    assert_eq!(shown(&state, "lobby").pending.len(), 1);
}

#[test]
fn a_failed_message_is_retried_with_the_same_client_id() {
    let retry = |client_id: &str| Action::RetryFailed {
        channel: ch("lobby"),
        client_id: id(client_id),
    };
    let state = flushed(apply(
        chatting(),
        [queue("lobby", "c1", "one"), queue("lobby", "c2", "two")],
    ));
    // Only a failed message can be retried.
    let same = state.clone().reduce(retry("c2"));
    assert!(Rc::ptr_eq(&state, &same));
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::Internal,
            message: "storage failed".into(),
            client_id: Some(id("c1")),
        }],
    );
    assert_eq!(state.pending_count(), 1);

    let state = state.reduce(retry("c1"));
    let lobby = shown(&state, "lobby");
    assert_eq!(lobby.pending[0].client_id, id("c1"));
    assert_eq!(lobby.pending[0].failed, None);
    assert_eq!(state.pending_count(), 2);
    // The same id: if the first attempt was stored after all, the server
    // answers with that one and nothing shows twice.
    assert_eq!(
        sent(&state),
        [ClientMsg::Send {
            channel: ch("lobby"),
            client_id: id("c1"),
            body: body("one"),
        }]
    );
    let state = flushed(state);
    let same = state.clone().reduce(retry("c1"));
    assert!(Rc::ptr_eq(&state, &same), "no longer failed");

    // Retried offline: it waits, and goes out again after `welcome`.
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::Internal,
            message: "storage failed".into(),
            client_id: Some(id("c1")),
        }],
    );
    let conn = state.conn_id;
    let state = apply(
        state,
        [
            Action::Closed {
                conn,
                code: Some(1006),
                reason: String::new(),
            },
            retry("c1"),
        ],
    );
    assert!(sent(&state).is_empty());
    let state = state.reduce(Action::Reconnect { conn });
    let state = feed(state, [welcome(&[("lobby", 0), ("rust", 3)])]);
    let resent: Vec<ClientMsg> = sent(&state)
        .into_iter()
        .filter(|m| matches!(m, ClientMsg::Send { .. }))
        .collect();
    assert_eq!(
        resent,
        [
            ClientMsg::Send {
                channel: ch("lobby"),
                client_id: id("c1"),
                body: body("one"),
            },
            ClientMsg::Send {
                channel: ch("lobby"),
                client_id: id("c2"),
                body: body("two"),
            },
        ]
    );
}

#[test]
fn queueing_the_same_client_id_twice_keeps_one() {
    let state = apply(
        chatting(),
        [queue("lobby", "c1", "one"), queue("lobby", "c1", "one")],
    );
    assert_eq!(shown(&state, "lobby").pending.len(), 1);
    assert_eq!(sent(&state).len(), 1);
}

// ---------- connection ----------

#[test]
fn other_errors_show_a_dismissable_notice() {
    let state = feed(
        chatting(),
        [ServerMsg::Error {
            code: ErrorCode::BadJson,
            message: "bad".into(),
            client_id: None,
        }],
    );
    assert_eq!(
        state.error,
        Some(Notice {
            code: Some(ErrorCode::BadJson),
            text: "bad".into()
        })
    );
    let state = state.reduce(Action::DismissError);
    assert_eq!(state.error, None);
    let same = state.clone().reduce(Action::DismissError);
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn bad_frame_shows_a_notice() {
    let state = chatting();
    let state = state.clone().reduce(Action::BadFrame {
        conn: state.conn_id,
        detail: "expected value".into(),
    });
    let notice = state.error.as_ref().unwrap();
    assert_eq!(notice.code, None);
    assert!(notice.text.contains("expected value"));
}

#[test]
fn a_busy_server_refusing_hello_means_try_again_later() {
    let opened = apply(
        Rc::new(AppState::default()),
        [
            Action::SessionChecked(Some(name("Alice"))),
            Action::Opened {
                conn: 1,
                transport: Transport::WebSocket,
            },
        ],
    );
    let busy = |message: &str| ServerMsg::Error {
        code: ErrorCode::ServerBusy,
        message: message.into(),
        client_id: None,
    };
    let state = feed(opened, [busy("the server is busy")]);
    assert_eq!(
        state.conn,
        ConnState::Closed {
            code: None,
            reason: "the server is busy".into()
        }
    );
    assert!(state.can_reconnect());
    // Once greeted, a busy answer to one request is only a notice.
    let state = feed(chatting(), [busy("try again")]);
    assert_eq!(state.conn, ConnState::Open);
    assert!(state.ready);
    assert!(state.error.is_some());
}

#[test]
fn close_is_recorded_and_requests_in_flight_are_forgotten() {
    let state = chatting().reduce(Action::Select(ch("rust")));
    assert!(shown(&state, "rust").loading);
    let state = state.clone().reduce(Action::Closed {
        conn: state.conn_id,
        code: Some(1001),
        reason: "server shutting down".into(),
    });
    assert_eq!(
        state.conn,
        ConnState::Closed {
            code: Some(1001),
            reason: "server shutting down".into()
        }
    );
    assert_eq!(
        state.conn.detail().as_deref(),
        Some("server shutting down (1001)")
    );
    assert!(state.can_reconnect());
    assert!(!state.ready);
    assert!(!shown(&state, "rust").loading);
    assert!(state.outbox.is_empty());
    // Offline, nothing is asked.
    let same = state.clone().reduce(Action::LoadOlder(ch("rust")));
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn reconnect_keeps_history_and_resumes() {
    let state = chatting();
    let state = flushed(feed(
        state,
        [
            ServerMsg::Message(msg("lobby", 1, "Bob", "one", "b1")),
            ServerMsg::Message(msg("lobby", 2, "Bob", "two", "b2")),
        ],
    ));
    let conn = state.conn_id;
    let state = state.reduce(Action::Closed {
        conn,
        code: Some(1006),
        reason: String::new(),
    });
    let state = state.reduce(Action::Reconnect { conn });
    assert_eq!(state.conn_id, conn + 1);
    assert_eq!(state.conn, ConnState::Connecting);
    assert_eq!(state.retries, 1);
    assert_eq!(state.received, 0);
    assert_eq!(seqs(shown(&state, "lobby")), [1, 2]);

    // Late events of the old connection, and a second reconnect, change nothing.
    let stale = apply(
        state.clone(),
        [
            Action::Closed {
                conn,
                code: Some(1000),
                reason: String::new(),
            },
            Action::Received {
                conn,
                msg: ServerMsg::Message(msg("lobby", 9, "Bob", "late", "b9")),
                now_ms: NOW,
            },
            Action::Reconnect { conn },
            Action::Reconnect { conn: conn + 1 },
        ],
    );
    assert!(Rc::ptr_eq(&state, &stale));

    // Nothing was missed: the lobby stays loaded and nothing is asked.
    let state = feed(state, [welcome(&[("lobby", 2), ("rust", 3)])]);
    assert_eq!(state.retries, 0);
    assert!(shown(&state, "lobby").loaded);
    // Votes may have been missed: the polls are asked for again.
    assert_eq!(sent(&state), [polls_req("lobby")]);
}

#[test]
fn a_chat_that_was_not_loaded_fetches_its_latest_page_after_reconnecting() {
    // "rust" was never shown: nothing to resume; its page comes when shown.
    let state = dropped_and_reconnected(chatting());
    assert_eq!(state.resume, [resume_at("lobby", 0)]);
    let state = flushed(feed(state, [welcome(&[("lobby", 0), ("rust", 5)])]));
    let state = state.reduce(Action::Select(ch("rust")));
    assert_eq!(sent(&state), [history_req("rust", None), polls_req("rust")]);
}

// ---------- resume ----------

fn resume_at(room_name: &str, seq: u64) -> ResumeFrom {
    ResumeFrom {
        channel: ch(room_name),
        seq,
    }
}

#[test]
fn resume_points_are_the_newest_contiguous_seq_of_each_loaded_chat() {
    let state = connected(&[("lobby", 3), ("rust", 9), ("empty", 0)]);
    let state = feed(
        state,
        [
            history("lobby", page("lobby", 1, 3), false),
            // A live message in a room never shown: not contiguous with
            // anything, so not a resume point.
            ServerMsg::Message(msg("rust", 10, "Bob", "ten", "b10")),
        ],
    );
    let state = apply(
        state,
        [
            Action::Select(ch("empty")),
            // A conversation opened here in which nobody wrote: the server has
            // nothing to resume.
            Action::OpenDm(name("Carol")),
        ],
    );
    let state = feed(
        state,
        [
            history("empty", vec![], false),
            ServerMsg::History {
                channel: dm("Carol"),
                messages: vec![],
                has_more: false,
            },
            ServerMsg::Message(in_chat(dm("Dave"), 4, "Dave", "psst", "d4")),
        ],
    );
    // Dave's conversation is loaded once shown.
    let state = state.reduce(Action::Select(dm("Dave")));
    let state = feed(
        state,
        [ServerMsg::History {
            channel: dm("Dave"),
            messages: (1..=4)
                .map(|seq| in_chat(dm("Dave"), seq, "Dave", "hi", &format!("d{seq}")))
                .collect(),
            has_more: false,
        }],
    );
    let points = state.resume_points();
    assert_eq!(
        points,
        [
            resume_at("empty", 0),
            resume_at("lobby", 3),
            ResumeFrom {
                channel: dm("Dave"),
                seq: 4
            },
        ]
    );
    // A new connection's `hello` carries them.
    let state = dropped_and_reconnected(state);
    assert_eq!(
        state.hello(),
        ClientMsg::Hello {
            protocol: parley_common::PROTOCOL_VERSION,
            resume: points,
        }
    );
    // The first connection resumes nothing.
    assert_eq!(
        AppState::default().hello(),
        ClientMsg::Hello {
            protocol: parley_common::PROTOCOL_VERSION,
            resume: vec![],
        }
    );
}

#[test]
fn a_resumed_chat_gets_what_it_missed_without_asking_for_its_page() {
    let state = chatting().reduce(Action::Focus(true));
    let state = flushed(feed(
        state,
        [
            ServerMsg::Message(msg("lobby", 1, "Bob", "one", "b1")),
            ServerMsg::Message(msg("lobby", 2, "Bob", "two", "b2")),
        ],
    ));
    let state = dropped_and_reconnected(state);
    assert_eq!(state.resume, [resume_at("lobby", 2)]);
    // Three messages were written meanwhile: the lobby stays loaded, nothing
    // but its polls is asked for.
    let state = feed(
        state,
        [welcome_with(&[("lobby", 5, 2), ("rust", 3, 3)], vec![])],
    );
    let lobby = shown(&state, "lobby");
    assert!(lobby.loaded);
    assert_eq!(lobby.unread(), 3);
    assert_eq!(sent(&state), [polls_req("lobby")]);

    // They arrive oldest first; one already shown is not shown twice.
    let state = feed(
        state,
        [
            ServerMsg::Missed {
                channel: ch("lobby"),
                messages: page("lobby", 2, 5),
            },
            ServerMsg::Message(msg("lobby", 6, "Carol", "live", "c6")),
        ],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), [1, 2, 3, 4, 5, 6]);
    assert_eq!(lobby.unread(), 4);
    // The divider marks where the new ones start.
    assert_eq!(lobby.divider, Some(3));
    assert_eq!(state.received, 5);
    // Still no page asked for.
    assert_eq!(sent(&state), [polls_req("lobby")]);
}

#[test]
fn missed_messages_in_another_chat_count_as_unread() {
    let state = chatting();
    let state = flushed(state.reduce(Action::Select(ch("rust"))));
    let state = flushed(feed(state, [history("rust", page("rust", 1, 3), false)]));
    let state = state.reduce(Action::Select(ch("lobby")));
    let state = dropped_and_reconnected(state);
    assert_eq!(state.resume, [resume_at("lobby", 0), resume_at("rust", 3)]);
    let state = feed(
        state,
        [
            welcome(&[("lobby", 0), ("rust", 3)]),
            ServerMsg::Missed {
                channel: ch("rust"),
                messages: vec![
                    msg("rust", 4, "Bob", "four", "b4"),
                    msg("rust", 5, "Alice", "mine, from another tab", "a5"),
                    msg("rust", 6, "Bob", "six", "b6"),
                ],
            },
        ],
    );
    let rust = shown(&state, "rust");
    assert_eq!(seqs(rust), [1, 2, 3, 4, 5, 6]);
    // Own messages are read: only the one after it is unread.
    assert_eq!(rust.unread(), 1);
    assert_eq!(rust.divider, None);
    // Selecting it shows it at once (loaded), with the divider.
    let state = flushed(state);
    let state = state.reduce(Action::Select(ch("rust")));
    assert_eq!(sent(&state), [polls_req("rust")]);
    assert_eq!(shown(&state, "rust").divider, Some(6));
}

#[test]
fn too_far_behind_drops_what_is_shown_and_loads_the_latest_page() {
    let state = chatting();
    let state = flushed(state.reduce(Action::Select(ch("rust"))));
    let state = flushed(feed(state, [history("rust", page("rust", 1, 3), false)]));
    let state = flushed(state.reduce(Action::Select(ch("lobby"))));
    let state = flushed(feed(state, [history("lobby", page("lobby", 1, 10), false)]));
    let state = dropped_and_reconnected(state);
    let state = feed(state, [welcome(&[("lobby", 700), ("rust", 900)])]);
    assert_eq!(sent(&state), [polls_req("lobby")]);
    let state = feed(
        state,
        [ServerMsg::TooFarBehind {
            channel: ch("lobby"),
            last_seq: 700,
        }],
    );
    let lobby = shown(&state, "lobby");
    assert!(lobby.messages.is_empty());
    assert!(lobby.loading);
    assert_eq!(
        sent(&state),
        [polls_req("lobby"), history_req("lobby", None)]
    );
    let state = flushed(state);
    // Shown: the latest page is asked for at once.
    let state = feed(
        state,
        [
            ServerMsg::TooFarBehind {
                channel: ch("rust"),
                last_seq: 900,
            },
            history("lobby", page("lobby", 651, 700), true),
        ],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), (651..=700).collect::<Vec<_>>());
    assert!(lobby.has_more && lobby.loaded && !lobby.loading);
    // Not shown: forgotten now, fetched when shown.
    let rust = shown(&state, "rust");
    assert!(rust.messages.is_empty() && !rust.loaded && !rust.loading);
    assert!(sent(&state).is_empty());
    let state = flushed(state).reduce(Action::Select(ch("rust")));
    assert_eq!(sent(&state), [history_req("rust", None), polls_req("rust")]);
}

#[test]
fn a_server_that_lost_messages_is_not_resumed_past_its_end() {
    // The client is ahead of the server (it lost data): `welcome` already drops
    // what is shown, and `too_far_behind` asks for the page only once.
    let state = chatting();
    let state = flushed(feed(state, [history("lobby", page("lobby", 1, 10), false)]));
    let state = dropped_and_reconnected(state);
    assert_eq!(state.resume, [resume_at("lobby", 10)]);
    let state = feed(
        state,
        [
            welcome(&[("lobby", 4)]),
            ServerMsg::TooFarBehind {
                channel: ch("lobby"),
                last_seq: 4,
            },
        ],
    );
    assert!(shown(&state, "lobby").messages.is_empty());
    assert_eq!(
        sent(&state),
        [history_req("lobby", None), polls_req("lobby")]
    );
}

#[test]
fn a_room_history_that_went_backwards_replaces_the_shown_one() {
    let state = chatting();
    let state = feed(
        state,
        [
            ServerMsg::Message(msg("lobby", 1, "Bob", "one", "b1")),
            ServerMsg::Message(msg("lobby", 2, "Bob", "two", "b2")),
        ],
    );
    let state = dropped_and_reconnected(state);
    // The server restarted without its data: seq 1 is a new message now.
    let state = feed(
        state,
        [
            welcome(&[("lobby", 0)]),
            ServerMsg::Message(msg("lobby", 1, "Carol", "new", "c1")),
        ],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!(seqs(lobby), [1]);
    assert_eq!(lobby.messages[0].body.as_str(), "new");
}

#[test]
fn outbox_entries_are_tagged_and_flushed_by_id() {
    let state = apply(
        chatting(),
        [queue("lobby", "c1", "one"), queue("lobby", "c2", "two")],
    );
    let first = state.outbox[0].id;
    assert_eq!(state.outbox[0].conn, state.conn_id);
    assert_eq!(state.outbox[1].id, first + 1);
    let state = state.reduce(Action::Flushed { upto: first + 1 });
    assert_eq!(state.outgoing_from(0).count(), 1);
    assert_eq!(state.outgoing_from(first + 2).count(), 0);
    // Flushing what is gone already changes nothing.
    let same = state.clone().reduce(Action::Flushed { upto: first + 1 });
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn the_transport_is_known_while_open() {
    let state = chatting();
    assert_eq!(state.transport, Some(Transport::WebSocket));
    let conn = state.conn_id;
    let state = state.reduce(Action::Closed {
        conn,
        code: Some(1001),
        reason: String::new(),
    });
    assert_eq!(state.transport, None);
    let state = state.reduce(Action::Reconnect { conn });
    let state = state.clone().reduce(Action::Opened {
        conn: state.conn_id,
        transport: Transport::LongPoll,
    });
    assert_eq!(state.transport, Some(Transport::LongPoll));
    assert_eq!(state.conn, ConnState::Open);
}

#[test]
fn a_scheduled_reconnect_is_shown_until_it_happens() {
    let state = chatting();
    let conn = state.conn_id;
    // Only a closed connection is rescheduled.
    let same = state.clone().reduce(Action::ReconnectScheduled {
        conn,
        at_ms: NOW + 800,
    });
    assert!(Rc::ptr_eq(&state, &same));
    let state = state.reduce(Action::Closed {
        conn,
        code: Some(1006),
        reason: String::new(),
    });
    let state = state.reduce(Action::ReconnectScheduled {
        conn,
        at_ms: NOW + 800,
    });
    assert_eq!(state.reconnect_at, Some(NOW + 800));
    // "Retry now": a new connection at once; the timer's own `Reconnect` then
    // names an old connection and changes nothing.
    let state = state.reduce(Action::Reconnect { conn });
    assert_eq!(state.reconnect_at, None);
    assert_eq!(state.conn, ConnState::Connecting);
    assert_eq!(state.retries, 1);
    let same = apply(
        state.clone(),
        [
            Action::Reconnect { conn },
            Action::ReconnectScheduled {
                conn,
                at_ms: NOW + 900,
            },
        ],
    );
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn long_polling_moves_to_a_websocket_by_reconnecting_and_resuming() {
    let state = chatting();
    let conn = state.conn_id;
    let state = state.reduce(Action::Opened {
        conn,
        transport: Transport::LongPoll,
    });
    let state = flushed(feed(
        state,
        [ServerMsg::Message(msg("lobby", 1, "Bob", "one", "b1"))],
    ));
    let state = state.reduce(Action::Upgrade { conn });
    assert_eq!(state.conn_id, conn + 1);
    assert_eq!(state.conn, ConnState::Connecting);
    // Not a failure: the backoff does not grow.
    assert_eq!(state.retries, 0);
    assert_eq!(state.resume, [resume_at("lobby", 1)]);
    // Only the current, open connection upgrades.
    let same = apply(
        state.clone(),
        [
            Action::Upgrade { conn },
            Action::Upgrade {
                conn: state.conn_id,
            },
        ],
    );
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn a_pong_changes_nothing() {
    let state = chatting();
    let same = feed(state.clone(), [ServerMsg::Pong]);
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn close_descriptions() {
    assert_eq!(describe_close(None, ""), "could not connect");
    assert_eq!(describe_close(Some(1006), ""), "connection lost (1006)");
    assert_eq!(
        describe_close(Some(4000), ""),
        "disconnected: connection too slow (4000)"
    );
    assert_eq!(
        describe_close(Some(4000), "outbox full"),
        "outbox full (4000)"
    );
    assert_eq!(
        describe_close(None, "could not connect: bad url"),
        "could not connect: bad url"
    );
    assert_eq!(
        describe_close(Some(4002), ""),
        "disconnected: no traffic (4002)"
    );
    assert_eq!(
        describe_close(Some(1009), ""),
        "disconnected: message too big (1009)"
    );
}

#[test]
fn sort_by_orders_stably() {
    let mut items = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
    sort_by(&mut items, |x, y| x.0 < y.0);
    assert_eq!(items, [(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]);
    let mut empty: Vec<u8> = Vec::new();
    sort_by(&mut empty, |x, y| x < y);
    assert!(empty.is_empty());
    let mut desc: Vec<u32> = (0..50).collect();
    sort_by(&mut desc, |x, y| x > y);
    assert_eq!(desc, (0..50).rev().collect::<Vec<_>>());
}
