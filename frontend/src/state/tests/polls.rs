//! Live polls: the room's list, tallies in version order, snapshots, the
//! user's vote, closing, and the new-poll request.

use parley_common::{PollInfo, PollSpec, Tally};

use super::*;

fn tally(version: u64, counts: &[u64], closed: bool) -> Tally {
    Tally {
        version,
        counts: counts.to_vec(),
        voters: counts.iter().sum(),
        closed,
    }
}

/// Poll `id` in the lobby, by `creator`: "Lunch?" — Pizza or Sushi.
fn lunch(id: u64, creator: &str, tally: Tally, my_vote: Option<u32>) -> PollInfo {
    PollInfo {
        id,
        room: room("lobby"),
        creator: name(creator),
        question: "Lunch?".into(),
        options: vec!["Pizza".into(), "Sushi".into()],
        closes_at: None,
        tally,
        my_vote,
    }
}

/// A tally that follows the one before it (no coalescing in between).
fn tally_msg(poll: u64, version: u64, counts: &[u64]) -> ServerMsg {
    coalesced(poll, version.saturating_sub(1), version, counts)
}

/// A tally sent after the server's previous tally `since` for this poll.
fn coalesced(poll: u64, since: u64, version: u64, counts: &[u64]) -> ServerMsg {
    ServerMsg::Tally {
        poll,
        since,
        tally: tally(version, counts, false),
    }
}

/// Chatting in the lobby, whose poll list (poll 7, by Bob, no votes) arrived.
fn with_poll() -> Rc<AppState> {
    let state = chatting();
    assert!(shown(&state, "lobby").polls_loading);
    let state = feed(
        state,
        [ServerMsg::Polls {
            room: room("lobby"),
            polls: vec![lunch(7, "Bob", tally(0, &[0, 0], false), None)],
        }],
    );
    let lobby = shown(&state, "lobby");
    assert!(lobby.polls_loaded && !lobby.polls_loading);
    flushed(state)
}

fn poll7(state: &AppState) -> &PollInfo {
    state.poll(7).unwrap()
}

#[test]
fn opening_a_room_lists_its_polls_newest_first() {
    let state = with_poll();
    let state = feed(
        state,
        [ServerMsg::Poll(lunch(
            9,
            "Carol",
            tally(0, &[0, 0], false),
            None,
        ))],
    );
    let ids: Vec<u64> = shown(&state, "lobby").polls.iter().map(|p| p.id).collect();
    assert_eq!(ids, [9, 7]);
    // Another room's polls are asked for when it is opened, once.
    let state = state.reduce(Action::Select(ch("rust")));
    assert!(sent(&state).contains(&polls_req("rust")));
    let state = flushed(state).reduce(Action::Select(ch("lobby")));
    assert!(!sent(&state).contains(&polls_req("lobby")));
}

#[test]
fn tallies_apply_in_order_and_stale_ones_are_ignored() {
    let state = feed(
        with_poll(),
        [tally_msg(7, 1, &[1, 0]), tally_msg(7, 2, &[1, 1])],
    );
    assert_eq!(poll7(&state).tally, tally(2, &[1, 1], false));
    assert!(sent(&state).is_empty());
    // An older tally arriving late (or the same one again) changes nothing.
    let before = state.clone();
    let state = feed(state, [tally_msg(7, 1, &[1, 0]), tally_msg(7, 2, &[5, 5])]);
    assert_eq!(poll7(&state).tally, tally(2, &[1, 1], false));
    assert!(Rc::ptr_eq(&before.rooms[0].polls, &state.rooms[0].polls));
    assert!(sent(&state).is_empty());
}

#[test]
fn a_gap_in_versions_asks_for_a_snapshot_once() {
    let state = feed(with_poll(), [tally_msg(7, 4, &[3, 1])]);
    // The counts are absolute: shown at once; the snapshot confirms the rest.
    assert_eq!(poll7(&state).tally.version, 4);
    assert_eq!(sent(&state), [ClientMsg::GetPoll { poll: 7 }]);
    // Another gap while the snapshot is on its way: not asked again.
    let state = feed(flushed(state), [tally_msg(7, 6, &[4, 2])]);
    assert!(sent(&state).is_empty());
    assert_eq!(state.snapshots, [7]);

    // The snapshot replaces the state (but not with older counts).
    let state = feed(
        state,
        [ServerMsg::Poll(lunch(
            7,
            "Bob",
            tally(5, &[4, 1], false),
            Some(1),
        ))],
    );
    assert_eq!(poll7(&state).tally, tally(6, &[4, 2], false));
    assert_eq!(poll7(&state).my_vote, Some(1));
    assert!(state.snapshots.is_empty());
    let state = feed(
        state,
        [ServerMsg::Poll(lunch(
            7,
            "Bob",
            tally(9, &[5, 4], false),
            Some(0),
        ))],
    );
    assert_eq!(poll7(&state).tally, tally(9, &[5, 4], false));
    assert_eq!(poll7(&state).my_vote, Some(0));
    // From there, the next version applies without asking.
    let state = feed(state, [tally_msg(7, 10, &[6, 4])]);
    assert_eq!(poll7(&state).tally.version, 10);
    assert!(sent(&state).is_empty());
}

#[test]
fn a_tally_of_an_unknown_poll_asks_for_it() {
    let state = feed(with_poll(), [tally_msg(12, 3, &[1, 0])]);
    assert_eq!(sent(&state), [ClientMsg::GetPoll { poll: 12 }]);
    let mut other = lunch(12, "Carol", tally(3, &[1, 0], false), None);
    other.question = "Dinner?".into();
    let state = feed(state, [ServerMsg::Poll(other)]);
    assert_eq!(state.poll(12).unwrap().question, "Dinner?");
}

#[test]
fn voting_sends_and_my_vote_from_any_tab_is_shown() {
    let state = with_poll().reduce(Action::Vote { poll: 7, option: 0 });
    assert_eq!(sent(&state), [ClientMsg::Vote { poll: 7, option: 0 }]);
    // Not shown as chosen until the server stored it.
    assert_eq!(poll7(&state).my_vote, None);
    let state = feed(flushed(state), [ServerMsg::MyVote { poll: 7, option: 0 }]);
    assert_eq!(poll7(&state).my_vote, Some(0));
    // Another tab changed it.
    let state = feed(state, [ServerMsg::MyVote { poll: 7, option: 1 }]);
    assert_eq!(poll7(&state).my_vote, Some(1));
    // A snapshot without a vote (the creation broadcast) does not forget it.
    let state = feed(
        state,
        [ServerMsg::Poll(lunch(
            7,
            "Bob",
            tally(0, &[0, 0], false),
            None,
        ))],
    );
    assert_eq!(poll7(&state).my_vote, Some(1));
}

#[test]
fn a_closed_poll_takes_no_votes_and_cannot_be_closed_again() {
    let state = feed(
        with_poll(),
        [ServerMsg::Tally {
            poll: 7,
            since: 0,
            tally: tally(1, &[2, 1], true),
        }],
    );
    assert!(poll7(&state).tally.closed);
    let state = apply(
        state,
        [Action::Vote { poll: 7, option: 1 }, Action::ClosePoll(7)],
    );
    assert!(sent(&state).is_empty());
    // A late, older tally does not reopen it.
    let state = feed(state, [tally_msg(7, 1, &[2, 1])]);
    assert!(poll7(&state).tally.closed);
    // The server says so if a vote crossed the closing.
    let state = feed(
        state,
        [ServerMsg::Error {
            code: ErrorCode::PollClosed,
            message: "poll closed".into(),
            client_id: None,
        }],
    );
    assert_eq!(
        state.error.as_ref().unwrap().code,
        Some(ErrorCode::PollClosed)
    );
}

#[test]
fn the_creator_closes_a_poll() {
    let state = feed(
        with_poll(),
        [ServerMsg::Poll(lunch(
            8,
            "Alice",
            tally(0, &[0, 0], false),
            None,
        ))],
    );
    let state = state.reduce(Action::ClosePoll(8));
    assert_eq!(sent(&state), [ClientMsg::ClosePoll { poll: 8 }]);
    let state = feed(
        flushed(state),
        [ServerMsg::Tally {
            poll: 8,
            since: 0,
            tally: tally(1, &[0, 0], true),
        }],
    );
    assert!(state.poll(8).unwrap().tally.closed);
}

#[test]
fn a_new_poll_closes_the_form_when_it_arrives_or_shows_why_not() {
    let spec = PollSpec::parse("Lunch?", &["Pizza".into(), "Sushi".into()]).unwrap();
    let create = Action::CreatePoll {
        room: room("lobby"),
        spec,
        closes_at: Some(NOW + 60_000),
    };
    let state = apply(with_poll(), [Action::NewPollForm(true), create.clone()]);
    assert!(state.new_poll.open);
    assert_eq!(
        sent(&state),
        [ClientMsg::CreatePoll {
            room: room("lobby"),
            question: "Lunch?".into(),
            options: vec!["Pizza".into(), "Sushi".into()],
            closes_at: Some(NOW + 60_000),
        }]
    );
    // Refused: the form stays open and says why (not the banner).
    let state = feed(
        flushed(state),
        [ServerMsg::Error {
            code: ErrorCode::BadMessage,
            message: "closes_at is in the past".into(),
            client_id: None,
        }],
    );
    assert!(state.new_poll.open && state.new_poll.creating.is_none());
    assert!(state.new_poll.error.is_some());
    assert_eq!(state.error, None);
    let state = state.reduce(Action::NewPollEdited);
    assert_eq!(state.new_poll.error, None);

    // Accepted: its broadcast closes the form.
    let state = state.reduce(create);
    let state = feed(
        state,
        [ServerMsg::Poll(lunch(
            8,
            "Alice",
            tally(0, &[0, 0], false),
            None,
        ))],
    );
    assert_eq!(state.new_poll, NewPoll::default());
    assert_eq!(state.poll(8).unwrap().creator, name("Alice"));
}

#[test]
fn reconnecting_lists_the_polls_again_and_forgets_requests() {
    let state = feed(with_poll(), [tally_msg(7, 3, &[1, 1])]);
    assert_eq!(state.snapshots, [7]);
    let state = dropped_and_reconnected(state);
    assert!(state.snapshots.is_empty());
    let conn = state.conn_id;
    let state = state.reduce(Action::Opened {
        conn,
        transport: Transport::WebSocket,
    });
    let state = feed(state, [welcome(&[("lobby", 0), ("rust", 3)])]);
    assert!(sent(&state).contains(&polls_req("lobby")));
    // What was shown stays until the fresh list replaces it.
    assert_eq!(poll7(&state).tally.version, 3);
}

#[test]
fn online_counts_come_from_the_total() {
    let state = feed(
        chatting(),
        [ServerMsg::Online {
            channel: ch("lobby"),
            users: vec![name("Alice"), name("Bob")],
            total: 250,
        }],
    );
    let lobby = shown(&state, "lobby");
    assert_eq!((lobby.online.len(), lobby.online_total), (2, 250));
}

#[test]
fn percentages_and_leaders() {
    assert_eq!(percent(1, 2), 50);
    assert_eq!(percent(1, 3), 33);
    assert_eq!(percent(2, 3), 67);
    assert_eq!(percent(0, 0), 0);
    assert_eq!(leaders(&tally(1, &[2, 3, 3], true)), [1, 2]);
    assert!(leaders(&tally(1, &[0, 0], true)).is_empty());
    assert_eq!(
        tally_fit(&tally(2, &[], false), 2, &tally(3, &[], false)),
        TallyFit::Next
    );
    assert_eq!(
        tally_fit(&tally(2, &[], false), 2, &tally(9, &[], false)),
        TallyFit::Next
    );
    assert_eq!(
        tally_fit(&tally(2, &[], false), 4, &tally(5, &[], false)),
        TallyFit::Gap
    );
    assert_eq!(
        tally_fit(&tally(2, &[], false), 1, &tally(2, &[], false)),
        TallyFit::Stale
    );
}

#[test]
fn coalesced_tallies_that_skip_versions_are_not_gaps() {
    // The server sent version 0 (the poll), then coalesced votes 1..=40 into 40.
    let state = feed(with_poll(), [coalesced(7, 0, 40, &[25, 15])]);
    assert_eq!(poll7(&state).tally.version, 40);
    assert!(sent(&state).is_empty(), "no snapshot for an expected skip");
    // A tally following one this tab never got is a real gap.
    let state = feed(flushed(state), [coalesced(7, 55, 60, &[30, 30])]);
    assert_eq!(poll7(&state).tally.version, 60);
    assert_eq!(sent(&state), [ClientMsg::GetPoll { poll: 7 }]);
}
