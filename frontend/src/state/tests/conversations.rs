//! Private conversations, read markers and unread counts, presence and typing.

use super::*;

fn conversation(
    with: &str,
    last_seq: u64,
    last_read: u64,
    last_ts: u64,
    online: bool,
) -> Conversation {
    Conversation {
        with: name(with),
        last_seq,
        last_read,
        last_ts,
        online,
    }
}

/// Alice, connected, in the lobby (5 messages, 3 read, its history loaded) and
/// with a conversation with Bob (2 messages, all read, Bob online); the page has
/// the focus and the outbox is flushed.
fn with_bob() -> Rc<AppState> {
    let state = apply(
        Rc::new(AppState::default()),
        [
            Action::SessionChecked(Some(name("Alice"))),
            Action::Opened {
                conn: 1,
                transport: Transport::WebSocket,
            },
            Action::Focus(true),
        ],
    );
    let state = feed(
        state,
        [
            welcome_with(
                &[("lobby", 5, 3)],
                vec![conversation("Bob", 2, 2, 1_700_000_000_002, true)],
            ),
            history("lobby", page("lobby", 1, 5), false),
        ],
    );
    flushed(state)
}

fn dm_chat<'a>(state: &'a AppState, with: &str) -> &'a Chat {
    state.chat(&dm(with)).unwrap()
}

fn dm_names(state: &AppState) -> Vec<&str> {
    state
        .dms
        .iter()
        .map(|c| c.peer().unwrap().as_str())
        .collect()
}

fn typing(channel: Channel, user: &str) -> ServerMsg {
    ServerMsg::Typing {
        channel,
        user: name(user),
    }
}

fn typists(chat: &Chat) -> Vec<&str> {
    chat.typing.iter().map(|t| t.user.as_str()).collect()
}

// ---------- conversations ----------

#[test]
fn welcome_lists_the_conversations_most_recent_first() {
    let state = connected(&[("lobby", 0)]);
    let state = feed(
        state,
        [welcome_with(
            &[("lobby", 0, 0)],
            vec![
                conversation("Carol", 4, 1, 2_000, false),
                conversation("Bob", 9, 9, 3_000, true),
            ],
        )],
    );
    assert_eq!(dm_names(&state), ["Bob", "Carol"]);
    assert!(dm_chat(&state, "Bob").peer_online());
    assert!(!dm_chat(&state, "Carol").peer_online());
    assert_eq!(dm_chat(&state, "Carol").unread(), 3);
    assert_eq!(state.unread_total(), 3);
}

#[test]
fn private_messages_are_filed_under_the_other_user_whoever_wrote_them() {
    let state = with_bob();
    // Bob writes; then Alice answers from another tab: both name the
    // conversation after Bob, as the server does for Alice.
    let state = feed(
        state,
        [
            ServerMsg::Message(in_chat(dm("Bob"), 3, "Bob", "hi Alice", "b3")),
            ServerMsg::Message(in_chat(dm("Bob"), 4, "Alice", "hi Bob", "a4")),
        ],
    );
    let bob = dm_chat(&state, "Bob");
    assert_eq!(seqs(bob), [3, 4]);
    assert_eq!(bob.messages[0].sender, name("Bob"));
    assert_eq!(bob.messages[1].sender, name("Alice"));
    assert!(shown(&state, "lobby").messages.iter().all(|m| m.seq <= 5));
    assert_eq!(state.received, 2);

    // Carol writes first: her conversation appears, on top (the most recent).
    let state = feed(
        state,
        [
            ServerMsg::Online {
                channel: dm("Carol"),
                users: vec![name("Alice"), name("Carol")],
                total: 2,
            },
            ServerMsg::Message(ChatMessage {
                ts: 1_700_000_009_000,
                ..in_chat(dm("Carol"), 1, "Carol", "psst", "c1")
            }),
        ],
    );
    assert_eq!(dm_names(&state), ["Carol", "Bob"]);
    let carol = dm_chat(&state, "Carol");
    assert_eq!((seqs(carol), carol.unread()), (vec![1], 1));
    assert!(carol.peer_online());
    // A newer message from Bob puts him back on top.
    let state = feed(
        state,
        [ServerMsg::Message(ChatMessage {
            ts: 1_700_000_010_000,
            ..in_chat(dm("Bob"), 5, "Bob", "still there?", "b5")
        })],
    );
    assert_eq!(dm_names(&state), ["Bob", "Carol"]);
}

#[test]
fn a_new_conversation_opens_once_the_server_knows_the_user() {
    let state = with_bob();
    let state = state.reduce(Action::OpenDm(name("dave")));
    assert_eq!(
        sent(&state),
        [ClientMsg::History {
            channel: dm("dave"),
            before: None
        }]
    );
    assert_eq!(state.new_dm.opening, Some(name("dave")));
    assert_eq!(state.active, Some(ch("lobby")));

    // Dave exists (no messages yet): the conversation opens, on top.
    let state = flushed(feed(
        state,
        [ServerMsg::History {
            channel: dm("dave"),
            messages: vec![],
            has_more: false,
        }],
    ));
    assert_eq!(state.new_dm.opening, None);
    assert_eq!(state.active, Some(dm("dave")));
    assert_eq!(state.view, View::Chat);
    assert_eq!(dm_names(&state), ["dave", "Bob"]);
    assert!(dm_chat(&state, "dave").loaded);

    // Writing to him; the server spells him "Dave".
    let state = state.reduce(Action::Queue {
        channel: dm("dave"),
        client_id: id("a1"),
        body: body("hello Dave"),
    });
    assert_eq!(
        sent(&state),
        [ClientMsg::Send {
            channel: dm("dave"),
            client_id: id("a1"),
            body: body("hello Dave"),
        }]
    );
    let state = feed(
        state,
        [
            ServerMsg::Ack {
                client_id: id("a1"),
                channel: dm("dave"),
                seq: 1,
            },
            ServerMsg::Message(in_chat(dm("Dave"), 1, "Alice", "hello Dave", "a1")),
        ],
    );
    let dave = dm_chat(&state, "Dave");
    assert_eq!(dave.channel, dm("Dave"));
    assert_eq!(state.active, Some(dm("Dave")));
    assert!(dave.pending.is_empty());
    assert_eq!((seqs(dave), dave.unread()), (vec![1], 0));
    assert_eq!(state.dms.len(), 2);
}

#[test]
fn an_unknown_user_is_explained_under_the_form() {
    let state = with_bob().reduce(Action::OpenDm(name("Zed")));
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::UnknownUser,
            message: "there is no user @Zed".into(),
            client_id: None,
        }],
    );
    assert_eq!(state.new_dm.opening, None);
    assert_eq!(
        state.new_dm.error.as_deref(),
        Some("There is no user named Zed.")
    );
    assert_eq!(state.error, None);
    assert!(state.chat(&dm("Zed")).is_none());
    assert_eq!(state.active, Some(ch("lobby")));
    let state = state.reduce(Action::NewDmEdited);
    assert_eq!(state.new_dm.error, None);
    let same = state.clone().reduce(Action::NewDmEdited);
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn opening_a_known_conversation_or_oneself_asks_nothing() {
    let state = with_bob().reduce(Action::OpenDm(name("bob")));
    assert_eq!(state.active, Some(dm("Bob")));
    assert_eq!(state.new_dm.opening, None);
    // Only its history, as for any chat shown for the first time.
    assert_eq!(
        sent(&state),
        [ClientMsg::History {
            channel: dm("Bob"),
            before: None
        }]
    );
    assert_eq!(state.dms.len(), 1);

    let state = flushed(state).reduce(Action::OpenDm(name("ALICE")));
    assert!(sent(&state).is_empty());
    assert_eq!(
        state.new_dm.error.as_deref(),
        Some("That is you: pick someone else.")
    );
}

#[test]
fn a_conversation_named_in_the_url_opens_after_welcome() {
    let state = apply(
        Rc::new(AppState::opening(Some(dm("bob")))),
        [
            Action::SessionChecked(Some(name("Alice"))),
            Action::Opened {
                conn: 1,
                transport: Transport::WebSocket,
            },
        ],
    );
    let state = feed(
        state,
        [welcome_with(
            &[("lobby", 0, 0)],
            vec![conversation("Bob", 2, 1, 5, false)],
        )],
    );
    assert_eq!(state.active, Some(dm("Bob")));
    assert_eq!(
        sent(&state),
        [ClientMsg::History {
            channel: dm("Bob"),
            before: None
        }]
    );
    assert_eq!(dm_chat(&state, "Bob").divider, Some(2));
}

// ---------- unread and read markers ----------

#[test]
fn unread_counts_skip_own_messages_and_typing() {
    let state = with_bob();
    assert_eq!(shown(&state, "lobby").unread(), 2);
    let state = feed(
        state,
        [
            ServerMsg::Message(msg("lobby", 6, "Bob", "six", "b6")),
            typing(ch("lobby"), "Bob"),
            typing(dm("Bob"), "Bob"),
        ],
    );
    assert_eq!(shown(&state, "lobby").unread(), 3);
    assert_eq!(dm_chat(&state, "Bob").unread(), 0);
    assert_eq!(state.unread_total(), 3);

    // Alice writes (here or in another tab): everything up to her message is
    // read, as the server has it.
    let state = feed(
        state,
        [ServerMsg::Message(msg("lobby", 7, "Alice", "seven", "a7"))],
    );
    assert_eq!(shown(&state, "lobby").unread(), 0);
    let state = feed(
        state,
        [ServerMsg::Message(msg("lobby", 8, "Bob", "eight", "b8"))],
    );
    assert_eq!(shown(&state, "lobby").unread(), 1);
    // An ack of her own message counts too (the message itself may come later).
    let state = feed(
        state,
        [ServerMsg::Ack {
            client_id: id("a9"),
            channel: ch("lobby"),
            seq: 9,
        }],
    );
    assert_eq!(shown(&state, "lobby").unread(), 0);
}

#[test]
fn reading_sends_the_marker_forward_only() {
    let state = with_bob();
    let read = |seq| Action::Read {
        channel: ch("lobby"),
        seq,
    };
    let state = state.reduce(read(4));
    assert_eq!(
        sent(&state),
        [ClientMsg::MarkRead {
            channel: ch("lobby"),
            seq: 4
        }]
    );
    assert_eq!(shown(&state, "lobby").unread(), 1);
    let state = flushed(state);
    // Not again, not backwards, not beyond the last message.
    for seq in [4, 2, 6] {
        let same = state.clone().reduce(read(seq));
        assert!(Rc::ptr_eq(&state, &same), "seq {seq}");
    }
    let state = state.reduce(read(5));
    assert_eq!(shown(&state, "lobby").unread(), 0);

    // Offline, nothing is sent (a new connection's `welcome` brings the marker).
    let state = feed(
        state,
        [ServerMsg::Message(msg("lobby", 6, "Bob", "six", "b6"))],
    );
    let conn = state.conn_id;
    let state = state.reduce(Action::Closed {
        conn,
        code: Some(1006),
        reason: String::new(),
    });
    let same = state.clone().reduce(read(6));
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn a_read_marker_from_another_tab_clears_the_badge() {
    let state = feed(
        with_bob(),
        [
            ServerMsg::Message(in_chat(dm("Bob"), 3, "Bob", "hey", "b3")),
            ServerMsg::Message(in_chat(dm("Bob"), 4, "Bob", "you there?", "b4")),
        ],
    );
    assert_eq!(dm_chat(&state, "Bob").unread(), 2);
    let state = feed(
        state,
        [ServerMsg::ReadMarker {
            channel: dm("Bob"),
            seq: 4,
        }],
    );
    assert_eq!(dm_chat(&state, "Bob").unread(), 0);
    // A marker this tab sends late is refused by the server; nobody needs to know.
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::BadReadMarker,
            message: "read marker behind the current read marker".into(),
            client_id: None,
        }],
    );
    assert_eq!(state.error, None);
    // A marker never moves back.
    let state = feed(
        state,
        [ServerMsg::ReadMarker {
            channel: dm("Bob"),
            seq: 3,
        }],
    );
    assert_eq!(dm_chat(&state, "Bob").last_read, 4);
}

#[test]
fn the_new_messages_divider_stays_where_it_was_while_the_chat_is_open() {
    let state = with_bob();
    // The lobby was shown at `welcome`: its first unread message is 4.
    assert_eq!(shown(&state, "lobby").divider, Some(4));
    let state = state.reduce(Action::Read {
        channel: ch("lobby"),
        seq: 5,
    });
    assert_eq!(shown(&state, "lobby").divider, Some(4));
    // Leaving it forgets the divider; the conversation has nothing unread.
    let state = state.reduce(Action::Select(dm("Bob")));
    assert_eq!(shown(&state, "lobby").divider, None);
    assert_eq!(dm_chat(&state, "Bob").divider, None);

    // Coming back with something new: above it.
    let state = feed(
        state,
        [ServerMsg::Message(msg("lobby", 6, "Bob", "six", "b6"))],
    );
    let state = state.reduce(Action::Select(ch("lobby")));
    assert_eq!(shown(&state, "lobby").divider, Some(6));

    // While the user reads (focused), new messages get no divider of their own;
    // while they look elsewhere, the first one does.
    let state = state.reduce(Action::Select(dm("Bob")));
    let state = feed(
        state,
        [ServerMsg::Message(in_chat(
            dm("Bob"),
            3,
            "Bob",
            "hey",
            "b3",
        ))],
    );
    assert_eq!(dm_chat(&state, "Bob").divider, None);
    let state = state.reduce(Action::Read {
        channel: dm("Bob"),
        seq: 3,
    });
    let state = state.reduce(Action::Focus(false));
    let state = feed(
        state,
        [
            ServerMsg::Message(in_chat(dm("Bob"), 4, "Bob", "four", "b4")),
            ServerMsg::Message(in_chat(dm("Bob"), 5, "Bob", "five", "b5")),
        ],
    );
    assert_eq!(dm_chat(&state, "Bob").divider, Some(4));
}

// ---------- presence ----------

#[test]
fn who_is_online_is_kept_per_room_and_conversation() {
    let state = feed(
        with_bob(),
        [
            ServerMsg::Online {
                channel: ch("lobby"),
                users: vec![name("Bob"), name("Alice")],
                total: 2,
            },
            ServerMsg::Presence {
                channel: ch("lobby"),
                user: name("Carol"),
                online: true,
            },
        ],
    );
    let online = |state: &AppState, channel: Channel| -> Vec<String> {
        let chat = state.chat(&channel).unwrap();
        chat.online.iter().map(ToString::to_string).collect()
    };
    assert_eq!(online(&state, ch("lobby")), ["Alice", "Bob", "Carol"]);
    assert_eq!(shown(&state, "lobby").online_total, 3);

    // Bob closes his last tab: gone from the room and from the conversation.
    let state = feed(
        state,
        [
            typing(ch("lobby"), "Bob"),
            ServerMsg::Presence {
                channel: ch("lobby"),
                user: name("Bob"),
                online: false,
            },
            ServerMsg::Presence {
                channel: dm("Bob"),
                user: name("Bob"),
                online: false,
            },
        ],
    );
    assert_eq!(online(&state, ch("lobby")), ["Alice", "Carol"]);
    assert_eq!(shown(&state, "lobby").online_total, 2);
    assert!(shown(&state, "lobby").typing.is_empty());
    assert!(!dm_chat(&state, "Bob").peer_online());
    let state = feed(
        state,
        [ServerMsg::Presence {
            channel: dm("Bob"),
            user: name("Bob"),
            online: true,
        }],
    );
    assert!(dm_chat(&state, "Bob").peer_online());
    // Someone who just wrote is online, whatever an earlier snapshot said.
    let state = feed(
        state,
        [
            ServerMsg::Online {
                channel: dm("Bob"),
                users: vec![name("Alice")],
                total: 1,
            },
            ServerMsg::Message(in_chat(dm("Bob"), 3, "Bob", "back", "b3")),
        ],
    );
    assert!(dm_chat(&state, "Bob").peer_online());

    // Disconnected: nobody is known to be online until the next `welcome`.
    let conn = state.conn_id;
    let state = state.reduce(Action::Closed {
        conn,
        code: Some(1006),
        reason: String::new(),
    });
    assert!(state.chats().all(|c| c.online.is_empty()));
}

// ---------- typing ----------

#[test]
fn typing_shows_for_a_few_seconds_or_until_the_message() {
    let state = feed(
        with_bob(),
        [
            typing(ch("lobby"), "Bob"),
            // Her own signal (another tab) is not shown.
            typing(ch("lobby"), "Alice"),
        ],
    );
    assert_eq!(typists(shown(&state, "lobby")), ["Bob"]);
    assert_eq!(state.typing_expires(), Some(NOW + TYPING_SHOWN_MS));

    // Not yet…
    let same = state.clone().reduce(Action::Tick {
        now_ms: NOW + TYPING_SHOWN_MS - 1,
    });
    assert!(Rc::ptr_eq(&state, &same));
    // …now.
    let gone = state.clone().reduce(Action::Tick {
        now_ms: NOW + TYPING_SHOWN_MS,
    });
    assert!(shown(&gone, "lobby").typing.is_empty());
    assert_eq!(gone.typing_expires(), None);

    // A later signal extends it; his message ends it at once.
    let state = state.reduce(Action::Received {
        conn: 1,
        msg: typing(ch("lobby"), "Bob"),
        now_ms: NOW + 3_000,
    });
    assert_eq!(state.typing_expires(), Some(NOW + 3_000 + TYPING_SHOWN_MS));
    let state = feed(state, [typing(dm("Bob"), "Bob")]);
    let state = state.reduce(Action::Received {
        conn: 1,
        msg: ServerMsg::Message(msg("lobby", 6, "Bob", "done typing", "b6")),
        now_ms: NOW + 3_000 + TYPING_OVERTAKE_MS,
    });
    assert!(shown(&state, "lobby").typing.is_empty());
    assert_eq!(typists(dm_chat(&state, "Bob")), ["Bob"]);
}

/// The rule of [`TYPING_OVERTAKE_MS`]: a message from Bob ends "Bob is
/// typing…" unless his newest signal arrived so shortly before it that he may
/// have sent it after the message (typing again right after sending).
#[test]
fn a_message_does_not_hide_someone_typing_again() {
    let at = |state: Rc<AppState>, msg: ServerMsg, now_ms: u64| {
        state.reduce(Action::Received {
            conn: 1,
            msg,
            now_ms,
        })
    };
    let bob_wrote =
        |seq: u64| ServerMsg::Message(msg("lobby", seq, "Bob", "hi", &format!("b{seq}")));

    // Typing, then the message a while later: the indicator goes.
    let state = at(with_bob(), typing(ch("lobby"), "Bob"), NOW);
    let state = at(state, bob_wrote(6), NOW + TYPING_OVERTAKE_MS);
    assert!(shown(&state, "lobby").typing.is_empty());

    // His next signal overtook his message (stored after it was forwarded):
    // he is typing again, and the message does not say otherwise.
    let state = at(state, typing(ch("lobby"), "Bob"), NOW + 2_000);
    let state = at(state, bob_wrote(7), NOW + 2_000 + TYPING_OVERTAKE_MS - 1);
    assert_eq!(typists(shown(&state, "lobby")), ["Bob"]);
    // It still runs out as usual…
    assert_eq!(state.typing_expires(), Some(NOW + 2_000 + TYPING_SHOWN_MS));
    // …and a signal after the message is simply the newest one.
    let state = at(state, typing(ch("lobby"), "Bob"), NOW + 2_400);
    assert_eq!(state.typing_expires(), Some(NOW + 2_400 + TYPING_SHOWN_MS));

    // Someone else's message, or the same user elsewhere, changes nothing.
    let state = at(state, typing(ch("lobby"), "Carol"), NOW + 2_500);
    let state = at(
        state,
        ServerMsg::Message(msg("lobby", 8, "Carol", "me too", "c8")),
        NOW + 5_000,
    );
    assert_eq!(typists(shown(&state, "lobby")), ["Bob"]);
    let state = at(
        state,
        ServerMsg::Message(in_chat(dm("Bob"), 3, "Bob", "psst", "b3")),
        NOW + 5_000,
    );
    assert_eq!(typists(shown(&state, "lobby")), ["Bob"]);

    // Long-polling delivers a batch at one instant: a signal in the batch
    // before his message may be newer than it, so it stays.
    let state = at(state, typing(ch("lobby"), "Bob"), NOW + 9_000);
    let state = at(state, bob_wrote(9), NOW + 9_000);
    assert_eq!(typists(shown(&state, "lobby")), ["Bob"]);
}

/// Item 7 of issue 24, the sender's side: sending restarts the throttle, so
/// the first keystroke after a send signals at once, even within
/// [`TYPING_EVERY_MS`] of the last signal.
#[test]
fn the_first_keystroke_after_sending_signals_at_once() {
    let typed = |now_ms| Action::Typed {
        channel: ch("lobby"),
        now_ms,
    };
    let state = flushed(with_bob().reduce(typed(NOW)));
    let state = flushed(state.reduce(Action::Queue {
        channel: ch("lobby"),
        client_id: id("a1"),
        body: body("hello"),
    }));
    let state = state.reduce(typed(NOW + 300));
    assert_eq!(
        sent(&state),
        [ClientMsg::Typing {
            channel: ch("lobby")
        }]
    );
    // And the throttle runs from that signal again.
    let state = flushed(state);
    let same = state.clone().reduce(typed(NOW + 300 + TYPING_EVERY_MS - 1));
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn typing_signals_go_out_at_most_every_two_seconds() {
    let state = with_bob();
    let typed = |channel: Channel, now_ms| Action::Typed { channel, now_ms };
    let state = state.reduce(typed(ch("lobby"), NOW));
    assert_eq!(
        sent(&state),
        [ClientMsg::Typing {
            channel: ch("lobby")
        }]
    );
    let state = flushed(state);
    let same = state
        .clone()
        .reduce(typed(ch("lobby"), NOW + TYPING_EVERY_MS - 1));
    assert!(Rc::ptr_eq(&state, &same));
    let state = flushed(state.reduce(typed(ch("lobby"), NOW + TYPING_EVERY_MS)));

    // Another chat signals at once, and so does typing again after sending.
    let state = state.reduce(typed(dm("Bob"), NOW + TYPING_EVERY_MS + 10));
    assert_eq!(sent(&state), [ClientMsg::Typing { channel: dm("Bob") }]);
    let state = flushed(state.reduce(Action::Queue {
        channel: dm("Bob"),
        client_id: id("a1"),
        body: body("hi"),
    }));
    let state = state.reduce(typed(dm("Bob"), NOW + TYPING_EVERY_MS + 20));
    assert_eq!(sent(&state), [ClientMsg::Typing { channel: dm("Bob") }]);

    // Offline, or somewhere the user is not: nothing.
    let conn = state.conn_id;
    let state = state.reduce(Action::Closed {
        conn,
        code: Some(1006),
        reason: String::new(),
    });
    let same = state.clone().reduce(typed(ch("lobby"), NOW + 60_000));
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn a_conversation_opened_here_survives_a_reconnect() {
    let state = flushed(feed(
        with_bob().reduce(Action::OpenDm(name("Dave"))),
        [ServerMsg::History {
            channel: dm("Dave"),
            messages: vec![],
            has_more: false,
        }],
    ));
    let state = dropped_and_reconnected(state);
    let state = feed(
        state,
        [welcome_with(
            &[("lobby", 5, 5)],
            vec![conversation("Bob", 2, 2, 1_700_000_000_002, false)],
        )],
    );
    assert_eq!(dm_names(&state), ["Dave", "Bob"]);
    assert_eq!(state.active, Some(dm("Dave")));
}
