//! The app state and its pure reducer: every change to what the UI shows is an
//! [`Action`] applied by [`AppState::reduce`], so the logic is unit-tested natively.

use std::rc::Rc;

use parley_common::{
    ChatMessage, ClientMsg, ClientMsgId, ErrorCode, MessageBody, RoomName, ServerMsg, Username,
};
use yew::Reducible;

/// Which screen the app shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Asking for a display name; no connection exists yet.
    #[default]
    NamePrompt,
    /// In the lobby (connected, connecting, or waiting for the user to reconnect).
    Chatting,
}

/// Mirrors the WebSocket's `readyState`, plus why it closed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConnState {
    /// No socket yet: the user has not picked a name. Shown as "closed".
    #[default]
    Idle,
    Connecting,
    Open,
    Closing,
    Closed {
        /// The close code, when the socket got as far as a close event.
        code: Option<u16>,
        reason: String,
    },
}

impl ConnState {
    /// The `readyState` name, used as `data-state` and as the status bar's text.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Idle | Self::Closed { .. } => "closed",
        }
    }

    /// A short human explanation of a closed connection, e.g. "server restarting".
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Idle => Some("not connected yet".to_owned()),
            Self::Closed { code, reason } => Some(describe_close(*code, reason)),
            Self::Connecting | Self::Open | Self::Closing => None,
        }
    }
}

/// Explains a close code to a human, preferring the server's reason text when it
/// sent one.
pub fn describe_close(code: Option<u16>, reason: &str) -> String {
    use parley_common::close;
    let fallback = match code {
        None => "could not connect",
        Some(1000) => "connection closed",
        Some(close::GOING_AWAY) => "server restarting",
        Some(1006) => "connection lost",
        Some(close::SLOW_CONSUMER) => "disconnected: connection too slow",
        Some(_) => "connection closed by server",
    };
    match (code, reason.trim()) {
        (Some(code), "") => format!("{fallback} ({code})"),
        (None, "") => fallback.to_owned(),
        (Some(code), reason) => format!("{reason} ({code})"),
        (None, reason) => format!("{fallback}: {reason}"),
    }
}

/// An outgoing chat message the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: ClientMsgId,
    pub body: MessageBody,
    /// Set when the server rejected this message (an `error` naming its `client_id`).
    /// A failed message is never retried and does not count as pending.
    pub failed: Option<String>,
}

/// Something to show in the error banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The server's error code, or `None` for problems found by the client itself.
    pub code: Option<ErrorCode>,
    pub text: String,
}

/// Identifies one connection attempt. Events from an older connection task are
/// ignored, so a task that is still winding down can never overwrite the state of
/// its successor. 0 means "no connection yet".
pub type ConnId = u32;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppState {
    pub phase: Phase,
    /// The display name: the one typed in, then the one the server confirmed in
    /// `welcome` (the server is the authority on identity).
    pub name: Option<Username>,
    pub conn: ConnState,
    /// The connection the root effect should be running; bumped to open a new one.
    pub conn_id: ConnId,
    /// The lobby's latest sequence number as announced in `joined`.
    pub joined_last_seq: Option<u64>,
    /// The lobby's messages, ordered by `seq`, without duplicates.
    pub messages: Rc<Vec<ChatMessage>>,
    /// Own messages not yet acknowledged (or rejected), in the order they were sent.
    pub pending: Vec<Pending>,
    /// Chat messages (`message` frames) received on the current connection.
    pub received: u64,
    /// The last error to show, until dismissed.
    pub error: Option<Notice>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The user picked a name: show the chat and open the first connection.
    SetName(Username),
    /// The user asked for a new connection (only acted on when closed).
    Reconnect,
    /// The socket is open and `hello` went out.
    Opened { conn: ConnId },
    /// The app is closing the socket.
    Closing { conn: ConnId },
    /// The socket is closed (or never opened).
    Closed {
        conn: ConnId,
        code: Option<u16>,
        reason: String,
    },
    /// A frame from the server, decoded.
    Received { conn: ConnId, msg: ServerMsg },
    /// A frame from the server that could not be decoded.
    BadFrame { conn: ConnId, detail: String },
    /// The user sent a message; it is pending until the server echoes or acks it.
    Queue {
        client_id: ClientMsgId,
        body: MessageBody,
    },
    /// Show a problem found by the client itself.
    ShowError(String),
    /// Hide the error banner.
    DismissError,
    /// Forget a failed outgoing message.
    DiscardFailed(ClientMsgId),
}

impl AppState {
    /// Outgoing messages still waiting for the server (failed ones excluded).
    pub fn pending_count(&self) -> usize {
        self.pending.iter().filter(|p| p.failed.is_none()).count()
    }

    /// Whether the UI should offer a new connection.
    pub fn can_reconnect(&self) -> bool {
        self.phase == Phase::Chatting && matches!(self.conn, ConnState::Closed { .. })
    }

    /// The `send` frames to (re)send on a new connection: every message still
    /// pending. Retrying is safe because the server deduplicates by client id.
    pub fn unsent(&self) -> Vec<ClientMsg> {
        self.pending
            .iter()
            .filter(|p| p.failed.is_none())
            .map(|p| ClientMsg::Send {
                room: RoomName::lobby(),
                client_id: p.client_id.clone(),
                body: p.body.clone(),
            })
            .collect()
    }

    fn is_me(&self, sender: &Username) -> bool {
        self.name.as_ref() == Some(sender)
    }

    fn start_connection(&mut self) {
        self.conn_id = self.conn_id.wrapping_add(1).max(1);
        self.conn = ConnState::Connecting;
        self.received = 0;
        self.joined_last_seq = None;
    }

    fn remove_pending(&mut self, client_id: &ClientMsgId) {
        self.pending.retain(|p| &p.client_id != client_id);
    }

    /// Inserts `msg` at its place by `seq`; a `seq` already present is ignored.
    fn insert_message(&mut self, msg: ChatMessage) {
        if let Err(at) = self.messages.binary_search_by_key(&msg.seq, |m| m.seq) {
            Rc::make_mut(&mut self.messages).insert(at, msg);
        }
    }

    fn apply_server_msg(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { protocol: _, name } => self.name = Some(name),
            ServerMsg::Joined { room, last_seq } => {
                if room == RoomName::lobby() {
                    self.joined_last_seq = Some(last_seq);
                    // The server's history is shorter than what is shown (it lost
                    // its data, or this is another server): what is shown is stale,
                    // and new messages would collide with it by seq.
                    if self.messages.last().is_some_and(|m| m.seq > last_seq) {
                        self.messages = Rc::default();
                    }
                }
            }
            ServerMsg::Message(msg) => {
                self.received += 1;
                if self.is_me(&msg.sender) {
                    self.remove_pending(&msg.client_id);
                }
                if msg.room == RoomName::lobby() {
                    self.insert_message(msg);
                }
            }
            ServerMsg::Ack { client_id, .. } => self.remove_pending(&client_id),
            ServerMsg::Error {
                code,
                message,
                client_id,
            } => {
                if let Some(id) = client_id
                    && let Some(p) = self.pending.iter_mut().find(|p| p.client_id == id)
                {
                    p.failed = Some(message.clone());
                }
                self.error = Some(Notice {
                    code: Some(code),
                    text: message,
                });
            }
        }
    }
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // Events of a connection that is no longer current change nothing (and, by
        // returning the same Rc, cause no re-render).
        match &action {
            Action::Opened { conn }
            | Action::Closing { conn }
            | Action::Closed { conn, .. }
            | Action::Received { conn, .. }
            | Action::BadFrame { conn, .. }
                if *conn != self.conn_id =>
            {
                return self;
            }
            Action::Reconnect if !self.can_reconnect() => return self,
            Action::SetName(_) if self.phase == Phase::Chatting => return self,
            Action::DismissError if self.error.is_none() => return self,
            _ => {}
        }

        let mut next = Rc::unwrap_or_clone(self);
        match action {
            Action::SetName(name) => {
                next.name = Some(name);
                next.phase = Phase::Chatting;
                next.start_connection();
            }
            Action::Reconnect => next.start_connection(),
            Action::Opened { .. } => next.conn = ConnState::Open,
            Action::Closing { .. } => next.conn = ConnState::Closing,
            Action::Closed { code, reason, .. } => next.conn = ConnState::Closed { code, reason },
            Action::Received { msg, .. } => next.apply_server_msg(msg),
            Action::BadFrame { detail, .. } => {
                next.error = Some(Notice {
                    code: None,
                    text: format!("Unreadable message from the server: {detail}"),
                });
            }
            Action::Queue { client_id, body } => {
                if !next.pending.iter().any(|p| p.client_id == client_id) {
                    next.pending.push(Pending {
                        client_id,
                        body,
                        failed: None,
                    });
                }
            }
            Action::ShowError(text) => next.error = Some(Notice { code: None, text }),
            Action::DismissError => next.error = None,
            Action::DiscardFailed(client_id) => next
                .pending
                .retain(|p| p.client_id != client_id || p.failed.is_none()),
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    fn id(s: &str) -> ClientMsgId {
        ClientMsgId::parse(s).unwrap()
    }

    fn body(s: &str) -> MessageBody {
        MessageBody::parse(s).unwrap()
    }

    fn chat(seq: u64, sender: &str, text: &str, client_id: &str) -> ServerMsg {
        ServerMsg::Message(ChatMessage {
            room: RoomName::lobby(),
            seq,
            sender: name(sender),
            body: body(text),
            ts: 1_700_000_000_000 + seq,
            client_id: id(client_id),
        })
    }

    fn apply(state: Rc<AppState>, actions: impl IntoIterator<Item = Action>) -> Rc<AppState> {
        actions.into_iter().fold(state, Reducible::reduce)
    }

    /// Alice has picked her name and her first connection is open.
    fn chatting() -> Rc<AppState> {
        apply(
            Rc::new(AppState::default()),
            [
                Action::SetName(name("Alice")),
                Action::Opened { conn: 1 },
                Action::Received {
                    conn: 1,
                    msg: ServerMsg::Welcome {
                        protocol: 1,
                        name: name("Alice"),
                    },
                },
                Action::Received {
                    conn: 1,
                    msg: ServerMsg::Joined {
                        room: RoomName::lobby(),
                        last_seq: 0,
                    },
                },
            ],
        )
    }

    fn recv(msg: ServerMsg) -> Action {
        Action::Received { conn: 1, msg }
    }

    fn seqs(state: &AppState) -> Vec<u64> {
        state.messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn starts_at_the_name_prompt_without_a_connection() {
        let state = AppState::default();
        assert_eq!(state.phase, Phase::NamePrompt);
        assert_eq!(state.conn_id, 0);
        assert_eq!(state.conn.as_str(), "closed");
        assert_eq!(state.pending_count(), 0);
        assert!(!state.can_reconnect());
    }

    #[test]
    fn setting_the_name_starts_connecting() {
        let state = Rc::new(AppState::default()).reduce(Action::SetName(name("Alice")));
        assert_eq!(state.phase, Phase::Chatting);
        assert_eq!(state.name, Some(name("Alice")));
        assert_eq!(state.conn, ConnState::Connecting);
        assert_eq!(state.conn_id, 1);
        // A second submit (double click) does not open a second connection.
        let again = state.clone().reduce(Action::SetName(name("Bob")));
        assert!(Rc::ptr_eq(&state, &again));
    }

    #[test]
    fn welcome_and_joined_are_recorded_but_not_counted() {
        let state = chatting();
        assert_eq!(state.conn, ConnState::Open);
        assert_eq!(state.joined_last_seq, Some(0));
        assert_eq!(state.received, 0);
    }

    #[test]
    fn the_server_confirms_the_name() {
        let state = chatting().reduce(recv(ServerMsg::Welcome {
            protocol: 1,
            name: name("Alice2"),
        }));
        assert_eq!(state.name, Some(name("Alice2")));
    }

    #[test]
    fn messages_are_ordered_by_seq_and_deduplicated() {
        let state = apply(
            chatting(),
            [
                recv(chat(2, "Bob", "second", "b2")),
                recv(chat(1, "Bob", "first", "b1")),
                recv(chat(3, "Bob", "third", "b3")),
                recv(chat(2, "Bob", "second again", "b2")),
            ],
        );
        assert_eq!(seqs(&state), [1, 2, 3]);
        assert_eq!(state.messages[1].body.as_str(), "second");
        // Every chat frame counts, duplicates included.
        assert_eq!(state.received, 4);
    }

    #[test]
    fn messages_of_other_rooms_are_not_shown() {
        let mut msg = match chat(1, "Bob", "elsewhere", "b1") {
            ServerMsg::Message(m) => m,
            _ => unreachable!(),
        };
        msg.room = RoomName::parse("other").unwrap();
        let state = chatting().reduce(recv(ServerMsg::Message(msg)));
        assert!(state.messages.is_empty());
        assert_eq!(state.received, 1);
    }

    #[test]
    fn own_message_is_pending_until_its_echo_arrives() {
        let state = chatting().reduce(Action::Queue {
            client_id: id("c1"),
            body: body("hi"),
        });
        assert_eq!(state.pending_count(), 1);
        assert_eq!(state.unsent().len(), 1);

        // Someone else's message with the same client id does not clear it.
        let state = state.reduce(recv(chat(1, "Bob", "hi", "c1")));
        assert_eq!(state.pending_count(), 1);

        let state = state.reduce(recv(chat(2, "Alice", "hi", "c1")));
        assert_eq!(state.pending_count(), 0);
        assert_eq!(seqs(&state), [1, 2]);

        // The ack that follows is harmless.
        let state = state.reduce(recv(ServerMsg::Ack {
            client_id: id("c1"),
            room: RoomName::lobby(),
            seq: 2,
        }));
        assert_eq!(state.pending_count(), 0);
    }

    #[test]
    fn ack_alone_clears_pending() {
        let state = apply(
            chatting(),
            [
                Action::Queue {
                    client_id: id("c1"),
                    body: body("one"),
                },
                Action::Queue {
                    client_id: id("c2"),
                    body: body("two"),
                },
                recv(ServerMsg::Ack {
                    client_id: id("c2"),
                    room: RoomName::lobby(),
                    seq: 7,
                }),
            ],
        );
        assert_eq!(state.pending.len(), 1);
        assert_eq!(state.pending[0].client_id, id("c1"));
    }

    #[test]
    fn queueing_the_same_client_id_twice_keeps_one() {
        let queue = Action::Queue {
            client_id: id("c1"),
            body: body("one"),
        };
        let state = apply(chatting(), [queue.clone(), queue]);
        assert_eq!(state.pending.len(), 1);
    }

    #[test]
    fn error_with_client_id_marks_that_message_failed() {
        let state = apply(
            chatting(),
            [
                Action::Queue {
                    client_id: id("c1"),
                    body: body("one"),
                },
                Action::Queue {
                    client_id: id("c2"),
                    body: body("two"),
                },
                recv(ServerMsg::Error {
                    code: ErrorCode::NotInRoom,
                    message: "not in room".into(),
                    client_id: Some(id("c1")),
                }),
            ],
        );
        assert_eq!(state.pending[0].failed.as_deref(), Some("not in room"));
        assert_eq!(state.pending[1].failed, None);
        assert_eq!(state.pending_count(), 1);
        assert_eq!(state.unsent().len(), 1);
        assert_eq!(
            state.error,
            Some(Notice {
                code: Some(ErrorCode::NotInRoom),
                text: "not in room".into()
            })
        );

        let state = state.reduce(Action::DiscardFailed(id("c1")));
        assert_eq!(state.pending.len(), 1);
        // Discarding only applies to failed messages.
        let state = state.reduce(Action::DiscardFailed(id("c2")));
        assert_eq!(state.pending.len(), 1);

        let state = state.reduce(Action::DismissError);
        assert_eq!(state.error, None);
    }

    #[test]
    fn error_without_client_id_only_shows_a_notice() {
        let state = apply(
            chatting(),
            [
                Action::Queue {
                    client_id: id("c1"),
                    body: body("one"),
                },
                recv(ServerMsg::Error {
                    code: ErrorCode::BadJson,
                    message: "bad".into(),
                    client_id: None,
                }),
            ],
        );
        assert_eq!(state.pending_count(), 1);
        assert_eq!(
            state.error.as_ref().map(|n| n.code),
            Some(Some(ErrorCode::BadJson))
        );
    }

    #[test]
    fn bad_frame_shows_a_notice() {
        let state = chatting().reduce(Action::BadFrame {
            conn: 1,
            detail: "expected value".into(),
        });
        let notice = state.error.as_ref().unwrap();
        assert_eq!(notice.code, None);
        assert!(notice.text.contains("expected value"));
    }

    #[test]
    fn close_is_recorded_with_code_and_reason() {
        let state = chatting().reduce(Action::Closed {
            conn: 1,
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
        assert_eq!(state.conn.as_str(), "closed");
        assert_eq!(
            state.conn.detail().as_deref(),
            Some("server shutting down (1001)")
        );
        assert!(state.can_reconnect());
    }

    #[test]
    fn reconnect_starts_a_new_connection_and_keeps_history_and_pending() {
        let state = apply(
            chatting(),
            [
                recv(chat(1, "Bob", "hello", "b1")),
                Action::Queue {
                    client_id: id("c1"),
                    body: body("unsent"),
                },
                Action::Closed {
                    conn: 1,
                    code: Some(1006),
                    reason: String::new(),
                },
            ],
        );
        let state = state.reduce(Action::Reconnect);
        assert_eq!(state.conn_id, 2);
        assert_eq!(state.conn, ConnState::Connecting);
        assert_eq!(state.received, 0);
        assert_eq!(seqs(&state), [1]);
        assert_eq!(state.pending_count(), 1);

        // Late events of the old connection change nothing.
        let stale = apply(
            state.clone(),
            [
                Action::Closed {
                    conn: 1,
                    code: Some(1000),
                    reason: String::new(),
                },
                Action::Received {
                    conn: 1,
                    msg: chat(9, "Bob", "late", "b9"),
                },
            ],
        );
        assert!(Rc::ptr_eq(&state, &stale));

        // Reconnecting while already connecting does nothing.
        let again = state.clone().reduce(Action::Reconnect);
        assert!(Rc::ptr_eq(&state, &again));
    }

    #[test]
    fn a_room_history_that_went_backwards_replaces_the_shown_one() {
        let joined = |last_seq| {
            recv(ServerMsg::Joined {
                room: RoomName::lobby(),
                last_seq,
            })
        };
        let state = apply(
            chatting(),
            [
                recv(chat(1, "Bob", "one", "b1")),
                recv(chat(2, "Bob", "two", "b2")),
            ],
        );
        // Joined again with the history intact: nothing changes.
        let same = apply(state.clone(), [joined(2), joined(5)]);
        assert_eq!(seqs(&same), [1, 2]);
        // The server restarted without its data: seq 1 is a new message now.
        let reset = apply(state, [joined(0), recv(chat(1, "Carol", "new", "c1"))]);
        assert_eq!(seqs(&reset), [1]);
        assert_eq!(reset.messages[0].body.as_str(), "new");
    }

    #[test]
    fn closing_is_shown() {
        let state = chatting().reduce(Action::Closing { conn: 1 });
        assert_eq!(state.conn, ConnState::Closing);
        assert_eq!(state.conn.as_str(), "closing");
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
            describe_close(None, "bad url"),
            "could not connect: bad url"
        );
    }
}
