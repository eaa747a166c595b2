//! Browser tests: status bar.

use super::*;

fn status(conn: ConnState, transport: Option<Transport>) -> StatusBarProps {
    StatusBarProps {
        conn,
        transport,
        reconnect_at: None,
        pending: 0,
        received: 0,
        on_retry_now: Callback::noop(),
    }
}

#[wasm_bindgen_test]
async fn status_bar_shows_state_transport_and_counts() {
    let root = render(
        status_bar,
        StatusBarProps {
            pending: 2,
            received: 17,
            ..status(ConnState::Open, Some(Transport::LongPoll))
        },
    );
    let state = find(&root, "#conn-state").await;
    assert_eq!(state.get_attribute("data-state").as_deref(), Some("open"));
    assert_eq!(text(&state), "open");
    let transport = find(&root, "#transport").await;
    assert_eq!(
        transport.get_attribute("data-transport").as_deref(),
        Some("long-poll")
    );
    assert_eq!(text(&transport), "long-poll");
    assert_eq!(text(&find(&root, "#pending-count").await), "2");
    assert_eq!(text(&find(&root, "#received-count").await), "17");
    assert!(root.query_selector("#retry-now").unwrap().is_none());
    assert!(root.query_selector("#reconnect-in").unwrap().is_none());

    for (transport, name, label) in [
        (Transport::WebSocket, "ws", "WebSocket"),
        (Transport::Poll, "poll", "polling"),
    ] {
        let root = render(status_bar, status(ConnState::Open, Some(transport)));
        let shown = find(&root, "#transport").await;
        assert_eq!(shown.get_attribute("data-transport").as_deref(), Some(name));
        assert_eq!(text(&shown), label);
    }
    // While connecting, which transport is not known yet.
    let root = render(status_bar, status(ConnState::Connecting, None));
    find(&root, "#conn-state[data-state='connecting']").await;
    assert!(root.query_selector("#transport").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn closed_status_bar_counts_down_and_offers_to_retry_now() {
    let (clicks, on_retry_now) = counter();
    let now = js_sys::Date::now() as u64;
    let root = render(
        status_bar,
        StatusBarProps {
            reconnect_at: Some(now + 2_500),
            on_retry_now,
            ..status(
                ConnState::Closed {
                    code: Some(1001),
                    reason: "server shutting down".into(),
                },
                None,
            )
        },
    );
    let state = find(&root, "#conn-state").await;
    assert_eq!(state.get_attribute("data-state").as_deref(), Some("closed"));
    assert!(text(&find(&root, "#conn-detail").await).contains("1001"));
    assert!(root.query_selector("#transport").unwrap().is_none());
    let countdown = find(&root, "#reconnect-in").await;
    assert_eq!(text(&countdown), "Reconnecting in 3 s");
    assert_eq!(
        countdown.get_attribute("data-seconds").as_deref(),
        Some("3")
    );
    // It counts down by itself.
    let two = wait_for(&root, "#reconnect-in", |el| {
        text(el) == "Reconnecting in 2 s"
    })
    .await;
    assert_eq!(two.get_attribute("data-seconds").as_deref(), Some("2"));
    click(&find(&root, "#retry-now").await);
    assert_eq!(*clicks.borrow(), 1);
    // Down to 0 (the reconnect is due): it says so.
    wait_for_long(&root, "#reconnect-in", |el| text(el) == "Reconnecting…").await;

    // Closed with no retry scheduled (yet): the button, no countdown.
    let root = render(
        status_bar,
        status(
            ConnState::Closed {
                code: None,
                reason: String::new(),
            },
            None,
        ),
    );
    find(&root, "#retry-now").await;
    assert!(root.query_selector("#reconnect-in").unwrap().is_none());
}
