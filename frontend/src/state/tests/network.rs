//! The browser's network: going offline closes the connection at once and
//! keeps who is online; coming back reconnects at once, as a first attempt.

use super::*;
use crate::state::network::OFFLINE_REASON;

/// Chatting, with Alice and Bob online in the lobby.
fn with_bob_online() -> Rc<AppState> {
    feed(
        chatting(),
        [ServerMsg::Online {
            channel: ch("lobby"),
            users: vec![name("Alice"), name("Bob")],
            total: 2,
        }],
    )
}

#[test]
fn going_offline_closes_the_connection_at_once_and_keeps_who_is_online() {
    let state = with_bob_online().reduce(queue("lobby", "c1", "written just before"));
    let old = state.conn_id;
    let state = state.reduce(Action::Offline);
    assert!(state.offline);
    assert_eq!(
        state.conn,
        ConnState::Closed {
            code: None,
            reason: OFFLINE_REASON.into()
        }
    );
    // A new id: the root effect drops the old connection.
    assert_ne!(state.conn_id, old);
    assert!(!state.ready);
    assert_eq!(state.transport, None);
    assert!(state.outbox.is_empty());
    // The message still waits (its bubble keeps "Sending…").
    assert_eq!(state.pending_count(), 1);
    // Who was online is shown as last known, not "0 online".
    let lobby = shown(&state, "lobby");
    assert_eq!(*lobby.online, vec![name("Alice"), name("Bob")]);
    assert_eq!(lobby.online_total, 2);
    // Nothing to retry until the network is back, and whatever the old
    // connection still reports changes nothing.
    assert!(!state.can_reconnect());
    let same = apply(
        state.clone(),
        [
            Action::Closed {
                conn: old,
                code: Some(1006),
                reason: String::new(),
            },
            Action::Reconnect {
                conn: state.conn_id,
            },
            Action::ReconnectScheduled {
                conn: state.conn_id,
                at_ms: NOW + 500,
            },
            Action::Offline,
        ],
    );
    assert!(Rc::ptr_eq(&state, &same));
}

#[test]
fn a_message_written_offline_goes_out_after_welcome_once_back() {
    let state = with_bob_online().reduce(Action::Offline);
    let state = state.reduce(queue("lobby", "c1", "written offline"));
    assert!(sent(&state).is_empty(), "nothing goes out offline");
    assert_eq!(state.pending_count(), 1);

    let before = state.conn_id;
    let state = state.reduce(Action::Online);
    assert!(!state.offline);
    assert_eq!(state.conn, ConnState::Connecting);
    assert_ne!(state.conn_id, before);
    // It resumes where the chat was.
    assert_eq!(state.resume, vec![resume_at("lobby", 0)]);
    let state = state.clone().reduce(Action::Opened {
        conn: state.conn_id,
        transport: Transport::WebSocket,
    });
    let state = feed(state, [welcome(&[("lobby", 0), ("rust", 3)])]);
    // Sent once, with its client id (the server stores it at most once).
    let sends: Vec<ClientMsg> = sent(&state)
        .into_iter()
        .filter(|m| matches!(m, ClientMsg::Send { .. }))
        .collect();
    assert_eq!(
        sends,
        vec![ClientMsg::Send {
            channel: ch("lobby"),
            client_id: id("c1"),
            body: body("written offline"),
        }]
    );
}

#[test]
fn back_online_reconnects_at_once_as_a_first_attempt() {
    // The server went away; two attempts failed, the third is scheduled.
    let mut state = chatting();
    for _ in 0..3 {
        let conn = state.conn_id;
        state = apply(
            state,
            [
                Action::Closed {
                    conn,
                    code: None,
                    reason: "could not connect".into(),
                },
                Action::Reconnect { conn },
            ],
        );
    }
    let conn = state.conn_id;
    let state = apply(
        state,
        [
            Action::Closed {
                conn,
                code: None,
                reason: "could not connect".into(),
            },
            Action::ReconnectScheduled {
                conn,
                at_ms: NOW + 8_000,
            },
        ],
    );
    assert_eq!(state.retries, 3);
    // Offline: the scheduled attempt is called off, the closed connection
    // stays as it was.
    let state = state.reduce(Action::Offline);
    assert_eq!(state.reconnect_at, None);
    assert_eq!(state.conn_id, conn);
    assert!(!state.can_reconnect());
    // Back: a new connection now, with no backoff left over.
    let state = state.reduce(Action::Online);
    assert_eq!(state.conn, ConnState::Connecting);
    assert_ne!(state.conn_id, conn);
    assert_eq!(state.retries, 0);
    assert_eq!(state.reconnect_at, None);
}

#[test]
fn a_long_polling_connection_lost_offline_comes_back_as_a_fresh_attempt() {
    // Long-polling (the WebSocket was refused earlier, while online).
    let state = chatting();
    let conn = state.conn_id;
    let state = apply(
        state,
        [
            Action::Closed {
                conn,
                code: None,
                reason: String::new(),
            },
            Action::Reconnect { conn },
        ],
    );
    let state = state.clone().reduce(Action::Opened {
        conn: state.conn_id,
        transport: Transport::LongPoll,
    });
    let state = apply(state, [Action::Offline, Action::Online]);
    // Nothing of the old transport is carried over: the new connection
    // chooses again, starting with a WebSocket.
    assert_eq!(state.conn, ConnState::Connecting);
    assert_eq!(state.transport, None);
    assert_eq!(state.retries, 0);
}

#[test]
fn the_network_is_remembered_across_logging_in_and_out() {
    let state = Rc::new(AppState::default()).reduce(Action::Offline);
    assert!(state.offline);
    assert_eq!(state.conn, ConnState::Idle);
    let same = state.clone().reduce(Action::Offline);
    assert!(Rc::ptr_eq(&state, &same));
    let state = state.reduce(Action::Online);
    assert!(!state.offline);
    assert_eq!(state.conn, ConnState::Idle, "nobody to connect");
    let same = state.clone().reduce(Action::Online);
    assert!(Rc::ptr_eq(&state, &same));

    let state = with_bob_online().reduce(Action::Offline);
    let state = state.reduce(Action::SignedOut { notice: None });
    assert!(state.offline);
}

#[test]
fn presence_is_kept_through_a_failed_attempt_while_offline() {
    // Back online briefly: the new attempt fails as the network goes again
    // (the connection task says `Offline` first, then `Closed`).
    let state = apply(with_bob_online(), [Action::Offline, Action::Online]);
    let conn = state.conn_id;
    let state = apply(
        state,
        [
            Action::Offline,
            Action::Closed {
                conn,
                code: None,
                reason: "could not connect".into(),
            },
        ],
    );
    assert!(state.offline);
    assert_eq!(shown(&state, "lobby").online_total, 2);
    // Whereas a drop while online makes who is online unknown until the
    // next `welcome` (hence the task's `Offline` before its `Closed`).
    let state = apply(with_bob_online(), [Action::Offline, Action::Online]);
    let conn = state.conn_id;
    let state = state.reduce(Action::Closed {
        conn,
        code: None,
        reason: String::new(),
    });
    assert_eq!(shown(&state, "lobby").online_total, 0);
}
