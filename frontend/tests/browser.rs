#![cfg(target_arch = "wasm32")]
// `#[wasm_bindgen_test]` functions are not `#[test]`s to clippy's test exemption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Component tests in a real browser: render one component into a fresh `<div>` and
//! assert on the DOM it produces.
//!
//! Run with
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  CHROMEDRIVER=$(command -v chromedriver) \
//!  cargo test --target wasm32-unknown-unknown -p parley-frontend --test browser`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use parley_common::{
    Channel, ChatMessage, ClientMsgId, Credentials, MessageBody, PollInfo, PollSpec, RoomInfo,
    RoomName, Tally, Username,
};
use parley_frontend::auth::{AuthField, AuthMode, AuthProblem};
use parley_frontend::components::{
    AuthPage, AuthPageProps, Composer, ComposerProps, Directory, DirectoryProps, DmEntry,
    ErrorBanner, ErrorBannerProps, MessageList, MessageListProps, OFFLINE_TEXT, OnlineUsers,
    OnlineUsersProps, PollsPanel, PollsPanelProps, RoomEntry, Sidebar, SidebarProps, StatusBar,
    StatusBarProps, TypingIndicator, TypingIndicatorProps, offline_banner,
};
use parley_frontend::context::AppContext;
use parley_frontend::lab::app::LabApp;
use parley_frontend::state::{Action, ConnState, Notice, Pending};
use parley_frontend::time;
use parley_frontend::transport::Transport;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, KeyboardEvent};
use yew::prelude::*;
use yew::{BaseComponent, Renderer};

wasm_bindgen_test_configure!(run_in_browser);

/// Renders `COMP` with `props` into a new `<div>` appended to `<body>`.
fn mount<COMP: BaseComponent>(props: COMP::Properties) -> Element {
    let document = gloo_document();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    Renderer::<COMP>::with_root_and_props(root.clone(), props).render();
    root
}

/// Everything a component asked the app for, through [`AppContext`].
type Acts = Rc<RefCell<Vec<Action>>>;

#[derive(Properties, PartialEq)]
struct InAppProps {
    context: AppContext,
    children: Html,
}

/// The signed-in app's context provider, around one component.
#[component]
fn InApp(props: &InAppProps) -> Html {
    html! {
        <ContextProvider<AppContext> context={props.context.clone()}>
            { props.children.clone() }
        </ContextProvider<AppContext>>
    }
}

/// Renders `COMP` with `props` inside the signed-in app's context, logged in
/// as Alice; returns the root and every action the component asks for.
fn mount_in_app<COMP: BaseComponent>(props: COMP::Properties) -> (Element, Acts) {
    mount_as::<COMP>("Alice", props)
}

/// [`mount_in_app`], logged in as `me`.
fn mount_as<COMP: BaseComponent>(me: &str, props: COMP::Properties) -> (Element, Acts) {
    let acts = Acts::default();
    let act = {
        let acts = acts.clone();
        Callback::from(move |action| acts.borrow_mut().push(action))
    };
    let context = AppContext {
        me: Some(Username::parse(me).unwrap()),
        act,
    };
    let children = html! { <COMP ..props /> };
    (mount::<InApp>(InAppProps { context, children }), acts)
}

fn gloo_document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Waits (yielding to yew's scheduler, at most ~2 s) until `selector` matches
/// inside `root` and `ready` accepts the element.
async fn wait_for(root: &Element, selector: &str, ready: impl Fn(&Element) -> bool) -> Element {
    for _ in 0..200 {
        if let Some(el) = root.query_selector(selector).unwrap()
            && ready(&el)
        {
            return el;
        }
        yew::platform::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "timed out waiting for {selector:?}; DOM: {}",
        root.inner_html()
    );
}

/// [`wait_for`], for up to ~5 s (clock-driven changes).
async fn wait_for_long(
    root: &Element,
    selector: &str,
    ready: impl Fn(&Element) -> bool,
) -> Element {
    for _ in 0..50 {
        if let Some(el) = root.query_selector(selector).unwrap()
            && ready(&el)
        {
            return el;
        }
        yew::platform::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {selector:?}; DOM: {}",
        root.inner_html()
    );
}

async fn find(root: &Element, selector: &str) -> Element {
    wait_for(root, selector, |_| true).await
}

fn text(el: &Element) -> String {
    el.text_content().unwrap_or_default()
}

fn click(el: &Element) {
    el.dyn_ref::<HtmlElement>().unwrap().click();
}

fn input(root: &Element, selector: &str) -> HtmlInputElement {
    root.query_selector(selector)
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap()
}

/// The texts of every `p.field-error` inside `root`.
fn errors(root: &Element) -> Vec<String> {
    let found = root.query_selector_all("p.field-error").unwrap();
    (0..found.length())
        .map(|i| text(&found.item(i).unwrap().dyn_into::<Element>().unwrap()))
        .collect()
}

fn chat(seq: u64, sender: &str, body: &str) -> ChatMessage {
    ChatMessage {
        channel: Channel::Room(RoomName::lobby()),
        seq,
        sender: Username::parse(sender).unwrap(),
        body: MessageBody::parse(body).unwrap(),
        ts: 1_700_000_000_000,
        client_id: ClientMsgId::parse(&format!("c{seq}")).unwrap(),
    }
}

/// A message list for `#lobby`, everything loaded (seen by Alice when
/// mounted with [`mount_in_app`]).
fn list(messages: Vec<ChatMessage>, pending: Vec<Pending>) -> MessageListProps {
    MessageListProps {
        channel: Channel::Room(RoomName::lobby()),
        messages: Rc::new(messages),
        pending: Rc::new(pending),
        loaded: true,
        loading: false,
        has_more: false,
        divider: None,
        last_read: 0,
        reading: false,
    }
}

/// A callback that counts its calls.
fn counter() -> (Rc<RefCell<u32>>, Callback<()>) {
    let count = Rc::new(RefCell::new(0));
    let callback = {
        let count = count.clone();
        Callback::from(move |()| *count.borrow_mut() += 1)
    };
    (count, callback)
}

// ---------- status bar ----------

fn status(conn: ConnState, transport: Option<Transport>) -> StatusBarProps {
    StatusBarProps {
        conn,
        offline: false,
        transport,
        reconnect_at: None,
        pending: 0,
        received: 0,
        on_retry_now: Callback::noop(),
    }
}

#[wasm_bindgen_test]
async fn status_bar_shows_state_transport_and_counts() {
    let root = mount::<StatusBar>(StatusBarProps {
        pending: 2,
        received: 17,
        ..status(ConnState::Open, Some(Transport::LongPoll))
    });
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
        let root = mount::<StatusBar>(status(ConnState::Open, Some(transport)));
        let shown = find(&root, "#transport").await;
        assert_eq!(shown.get_attribute("data-transport").as_deref(), Some(name));
        assert_eq!(text(&shown), label);
    }
    // While connecting, which transport is not known yet.
    let root = mount::<StatusBar>(status(ConnState::Connecting, None));
    find(&root, "#conn-state[data-state='connecting']").await;
    assert!(root.query_selector("#transport").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn closed_status_bar_counts_down_and_offers_to_retry_now() {
    let (clicks, on_retry_now) = counter();
    let now = js_sys::Date::now() as u64;
    let root = mount::<StatusBar>(StatusBarProps {
        reconnect_at: Some(now + 2_500),
        on_retry_now,
        ..status(
            ConnState::Closed {
                code: Some(1001),
                reason: "server shutting down".into(),
            },
            None,
        )
    });
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
    let root = mount::<StatusBar>(status(
        ConnState::Closed {
            code: None,
            reason: String::new(),
        },
        None,
    ));
    find(&root, "#retry-now").await;
    assert!(root.query_selector("#reconnect-in").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn offline_status_bar_says_so_and_offers_no_retry() {
    // Whatever the connection's last state: closed with a retry scheduled…
    let now = js_sys::Date::now() as u64;
    let closed = StatusBarProps {
        offline: true,
        reconnect_at: Some(now + 5_000),
        pending: 1,
        ..status(
            ConnState::Closed {
                code: None,
                reason: "no network".into(),
            },
            None,
        )
    };
    // …or open (the page cannot trust it any more).
    let open = StatusBarProps {
        offline: true,
        ..status(ConnState::Open, Some(Transport::WebSocket))
    };
    for props in [closed, open] {
        let root = mount::<StatusBar>(props);
        let footer = find(&root, "#status").await;
        assert!(footer.class_list().contains("status-offline"));
        assert!(!footer.class_list().contains("reconnecting"));
        let state = find(&root, "#conn-state").await;
        assert_eq!(
            state.get_attribute("data-state").as_deref(),
            Some("offline")
        );
        assert_eq!(text(&state), "offline");
        assert_eq!(
            text(&find(&root, "#conn-detail").await),
            "waiting for the network"
        );
        // The network's return reconnects: nothing to click, no countdown.
        for gone in ["#retry-now", "#reconnect-in", "#transport"] {
            assert!(root.query_selector(gone).unwrap().is_none(), "{gone}");
        }
    }
}

// ---------- offline banner ----------

#[derive(Properties, PartialEq)]
struct OfflineProps {
    offline: bool,
}

/// The banner as the root shows it: only while the browser is offline.
#[component]
fn Offline(props: &OfflineProps) -> Html {
    html! {
        <main>
            if props.offline { { offline_banner() } }
        </main>
    }
}

#[wasm_bindgen_test]
async fn offline_banner_shows_only_while_offline() {
    let root = gloo_document().create_element("div").unwrap();
    gloo_document().body().unwrap().append_child(&root).unwrap();
    let mut app =
        Renderer::<Offline>::with_root_and_props(root.clone(), OfflineProps { offline: true })
            .render();
    let banner = find(&root, "#offline-banner").await;
    assert_eq!(
        text(&banner),
        "Offline — messages will be sent when you're back"
    );
    assert_eq!(text(&banner), OFFLINE_TEXT);
    // Announced politely, not as an error; nothing to dismiss.
    assert_eq!(banner.get_attribute("role").as_deref(), Some("status"));
    assert!(banner.query_selector("button").unwrap().is_none());

    // The network is back: the banner goes.
    app.update(OfflineProps { offline: false });
    wait_for(&root, "main", |main| {
        main.query_selector("#offline-banner").unwrap().is_none()
    })
    .await;
    // And comes again with the next outage.
    app.update(OfflineProps { offline: true });
    find(&root, "#offline-banner").await;
}

// ---------- message list ----------

#[wasm_bindgen_test]
async fn message_bodies_are_text_not_html() {
    let (root, _) = mount_in_app::<MessageList>(list(
        vec![
            chat(1, "Mallory", "<b>bold</b><img src=x onerror=alert(1)>"),
            chat(2, "Alice", "line one\nline two"),
        ],
        vec![],
    ));
    let ol = find(&root, "ol#messages").await;
    assert_eq!(ol.get_attribute("data-room").as_deref(), Some("lobby"));
    let first = find(&root, "#messages li.message[data-seq='1']").await;
    let body = first.query_selector(".body").unwrap().unwrap();
    assert_eq!(text(&body), "<b>bold</b><img src=x onerror=alert(1)>");
    assert!(body.query_selector("b").unwrap().is_none());
    assert!(root.query_selector("img").unwrap().is_none());
    assert_eq!(
        text(&first.query_selector(".sender").unwrap().unwrap()),
        "Mallory"
    );
    let time = first.query_selector("time").unwrap().unwrap();
    let hhmm = text(&time);
    assert_eq!(hhmm.len(), 5, "{hhmm:?}");
    assert_eq!(&hhmm[2..3], ":");
    assert!(!first.class_list().contains("own"));

    let second = find(&root, "li.message[data-seq='2']").await;
    assert!(second.class_list().contains("own"));
    let body = second.query_selector(".body").unwrap().unwrap();
    assert_eq!(text(&body), "line one\nline two");
}

#[wasm_bindgen_test]
async fn pending_and_failed_messages_follow_the_history() {
    let pending = |id: &str, acked: Option<u64>, failed: Option<&str>| Pending {
        client_id: ClientMsgId::parse(id).unwrap(),
        body: MessageBody::parse("on its way").unwrap(),
        acked,
        failed: failed.map(str::to_owned),
    };
    let (root, _) = mount_in_app::<MessageList>(list(
        vec![chat(1, "Bob", "hi")],
        vec![
            pending("p1", None, None),
            pending("p2", Some(7), None),
            pending("p3", None, Some("rate limited")),
        ],
    ));
    find(&root, "li.message[data-seq='1']").await;
    let items = root.query_selector_all("#messages > li.message").unwrap();
    assert_eq!(items.length(), 4);
    let rest: Vec<Element> = (1..4)
        .map(|i| items.item(i).unwrap().dyn_into::<Element>().unwrap())
        .collect();
    assert_eq!(
        rest[0].get_attribute("class").as_deref(),
        Some("message own pending")
    );
    assert!(rest[0].get_attribute("data-seq").is_none());
    assert_eq!(
        rest[0].get_attribute("data-client-id").as_deref(),
        Some("p1")
    );
    assert!(text(&rest[0]).contains("Sending"));
    assert_eq!(
        rest[1].get_attribute("class").as_deref(),
        Some("message own sent")
    );
    assert!(text(&rest[1]).contains("Sent"));
    assert_eq!(
        rest[2].get_attribute("class").as_deref(),
        Some("message own failed")
    );
    assert!(text(&rest[2]).contains("rate limited"));
    // Only a failed one offers Retry and Discard.
    assert_eq!(root.query_selector_all("button.retry").unwrap().length(), 1);
    assert_eq!(
        root.query_selector_all("button.discard").unwrap().length(),
        1
    );
}

#[wasm_bindgen_test]
async fn a_failed_message_offers_retry_and_discard_for_its_client_id() {
    let pending = |id: &str, failed: Option<&str>| Pending {
        client_id: ClientMsgId::parse(id).unwrap(),
        body: MessageBody::parse("important").unwrap(),
        acked: None,
        failed: failed.map(str::to_owned),
    };
    let (root, acts) = mount_in_app::<MessageList>(list(
        vec![],
        vec![
            pending("ok-1", None),
            pending("bad-2", Some("storage failed, try again")),
        ],
    ));
    let failed = find(&root, "li.message.failed[data-client-id='bad-2']").await;
    assert!(text(&failed).contains("storage failed, try again"));
    let lobby = Channel::Room(RoomName::lobby());
    let bad = ClientMsgId::parse("bad-2").unwrap();
    click(&failed.query_selector("button.retry").unwrap().unwrap());
    assert_eq!(
        *acts.borrow(),
        [Action::RetryFailed {
            channel: lobby.clone(),
            client_id: bad.clone()
        }]
    );
    click(&failed.query_selector("button.discard").unwrap().unwrap());
    assert_eq!(
        acts.borrow()[1..],
        [Action::DiscardFailed {
            channel: lobby,
            client_id: bad
        }]
    );
}

#[wasm_bindgen_test]
async fn day_separators_divide_the_messages() {
    let now = js_sys::Date::now() as u64;
    let day = 86_400_000;
    let at = |seq: u64, ts: u64| ChatMessage {
        ts,
        ..chat(seq, "Bob", &format!("message {seq}"))
    };
    let old = 1_700_000_000_000; // November 2023
    let (root, _) = mount_in_app::<MessageList>(list(
        vec![
            at(1, old),
            at(2, old + 60_000),
            at(3, now - day),
            at(4, now),
        ],
        vec![],
    ));
    find(&root, "li.message[data-seq='4']").await;
    let items = root.query_selector_all("#messages > li").unwrap();
    let rows: Vec<(String, String)> = (0..items.length())
        .map(|i| {
            let li = items.item(i).unwrap().dyn_into::<Element>().unwrap();
            let class = li.get_attribute("class").unwrap_or_default();
            let label = if class == "day-separator" {
                text(&li)
            } else {
                li.get_attribute("data-seq").unwrap_or_default()
            };
            (class, label)
        })
        .collect();
    let today = time::today();
    let old_label = time::day_label(time::day_of(old), today);
    assert!(old_label.contains("November 2023"), "{old_label}");
    let expected = [
        ("day-separator", old_label.as_str()),
        ("message", "1"),
        ("message", "2"),
        ("day-separator", "Yesterday"),
        ("message", "3"),
        ("day-separator", "Today"),
        ("message", "4"),
    ];
    let got: Vec<(&str, &str)> = rows.iter().map(|(c, l)| (c.as_str(), l.as_str())).collect();
    assert_eq!(got, expected);
}

#[wasm_bindgen_test]
async fn history_markers_show_loading_and_the_beginning() {
    let (loading, _) = mount_in_app::<MessageList>(MessageListProps {
        loading: true,
        has_more: true,
        ..list(vec![chat(5, "Bob", "hi")], vec![])
    });
    find(&loading, "#history-loading").await;
    assert!(loading.query_selector("#history-start").unwrap().is_none());

    let (start, _) = mount_in_app::<MessageList>(list(vec![chat(1, "Bob", "hi")], vec![]));
    let marker = find(&start, "#history-start").await;
    assert!(text(&marker).contains("This is the beginning of #lobby"));
    assert!(start.query_selector("#history-loading").unwrap().is_none());

    let (more, _) = mount_in_app::<MessageList>(MessageListProps {
        has_more: true,
        ..list(vec![chat(51, "Bob", "hi")], vec![])
    });
    find(&more, "li.message").await;
    assert!(more.query_selector("#history-start").unwrap().is_none());
    assert!(more.query_selector("#history-loading").unwrap().is_none());
}

/// Gives `.timeline` a fixed height so that it scrolls, as style.css does.
fn scrolling_timeline() {
    let document = gloo_document();
    if document.get_element_by_id("test-timeline-style").is_none() {
        let style = document.create_element("style").unwrap();
        style.set_id("test-timeline-style");
        style.set_text_content(Some(
            ".timeline { display: block; height: 200px; overflow-y: auto; }",
        ));
        document.head().unwrap().append_child(&style).unwrap();
    }
}

/// How many times the list asked for the page before (`LoadOlder`).
fn asked_for_older(acts: &Acts) -> usize {
    acts.borrow()
        .iter()
        .filter(|a| matches!(a, Action::LoadOlder(_)))
        .count()
}

#[wasm_bindgen_test]
async fn scrolling_to_the_top_asks_for_older_messages() {
    scrolling_timeline();
    let messages = (51..=100).map(|seq| chat(seq, "Bob", "hello")).collect();
    let (root, acts) = mount_in_app::<MessageList>(MessageListProps {
        has_more: true,
        ..list(messages, vec![])
    });
    let asked = || asked_for_older(&acts);
    // It opens at the newest message, far from the top: nothing asked yet.
    let scroller = wait_for(&root, "section.timeline", |el| el.scroll_top() > 300).await;
    assert_eq!(asked(), 0);

    scroller.set_scroll_top(0);
    scroller
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    assert!(asked() >= 1);
}

#[wasm_bindgen_test]
async fn a_short_room_asks_for_older_messages_at_once() {
    scrolling_timeline();
    let (root, acts) = mount_in_app::<MessageList>(MessageListProps {
        has_more: true,
        ..list(vec![chat(60, "Bob", "only one shown")], vec![])
    });
    find(&root, "li.message").await;
    for _ in 0..100 {
        if asked_for_older(&acts) > 0 {
            break;
        }
        yew::platform::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(asked_for_older(&acts) > 0);
}

#[wasm_bindgen_test]
async fn a_conversation_is_marked_as_such_with_its_new_messages_divider() {
    let bob = Channel::Dm(user("Bob"));
    let in_dm = |seq, sender: &str| ChatMessage {
        channel: bob.clone(),
        ..chat(seq, sender, &format!("message {seq}"))
    };
    let (root, _) = mount_in_app::<MessageList>(MessageListProps {
        channel: bob.clone(),
        divider: Some(3),
        last_read: 2,
        ..list(
            vec![
                in_dm(1, "Bob"),
                in_dm(2, "Alice"),
                in_dm(3, "Bob"),
                in_dm(4, "Bob"),
            ],
            vec![],
        )
    });
    let ol = find(&root, "ol#messages[data-dm='Bob']").await;
    assert!(ol.get_attribute("data-room").is_none());
    let items = root.query_selector_all("#messages > li").unwrap();
    let rows: Vec<String> = (0..items.length())
        .map(|i| {
            let li: Element = items.item(i).unwrap().dyn_into().unwrap();
            li.get_attribute("data-seq")
                .unwrap_or_else(|| li.get_attribute("class").unwrap())
        })
        .collect();
    assert_eq!(
        rows[1..],
        ["1", "2", "new-messages-divider", "3", "4"].map(String::from)
    );
    let start = find(&root, "#history-start").await;
    assert!(text(&start).contains("your conversation with Bob"));
}

#[wasm_bindgen_test]
async fn what_is_seen_while_reading_is_reported() {
    scrolling_timeline();
    let read = |acts: &Acts| -> Vec<u64> {
        acts.borrow()
            .iter()
            .filter_map(|a| match a {
                Action::Read { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    };
    // Not reading (the page has no focus): nothing reported.
    let (idle, idle_acts) = mount_in_app::<MessageList>(MessageListProps {
        last_read: 1,
        ..list(vec![chat(1, "Bob", "one"), chat(2, "Bob", "two")], vec![])
    });
    find(&idle, "li.message[data-seq='2']").await;
    yew::platform::time::sleep(Duration::from_millis(50)).await;
    assert!(read(&idle_acts).is_empty());

    // Reading, everything visible: up to the newest.
    let (root, acts) = mount_in_app::<MessageList>(MessageListProps {
        last_read: 1,
        reading: true,
        ..list(vec![chat(1, "Bob", "one"), chat(2, "Bob", "two")], vec![])
    });
    let seen = || read(&acts);
    find(&root, "li.message[data-seq='2']").await;
    for _ in 0..100 {
        if !seen().is_empty() {
            break;
        }
        yew::platform::time::sleep(Duration::from_millis(10)).await;
    }
    // (Possibly more than once: the app ignores a marker it has already.)
    let seen = seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|&seq| seq == 2),
        "{seen:?}"
    );
}

// ---------- presence ----------

#[wasm_bindgen_test]
async fn typing_indicator_names_who_types() {
    let root = mount::<TypingIndicator>(TypingIndicatorProps {
        names: vec![user("Bob"), user("Carol")],
    });
    let el = find(&root, "#typing-indicator").await;
    assert!(
        text(&el).contains("Bob and Carol are typing"),
        "{}",
        text(&el)
    );
    let root = mount::<TypingIndicator>(TypingIndicatorProps { names: vec![] });
    let el = find(&root, "#typing-indicator").await;
    assert_eq!(text(&el), "");
}

#[wasm_bindgen_test]
async fn online_users_are_listed_by_name() {
    let (root, _) = mount_in_app::<OnlineUsers>(OnlineUsersProps {
        users: Rc::new(vec![user("Alice"), user("Bob"), user("Carol")]),
        total: 3,
    });
    find(&root, "#online-users").await;
    let found = root
        .query_selector_all("#online-users .online-user")
        .unwrap();
    let names: Vec<String> = (0..found.length())
        .map(|i| {
            text(&found.item(i).unwrap().dyn_into::<Element>().unwrap())
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["Alice", "Bob", "Carol"]);
    assert!(text(&root).contains("3 online"));

    // A busy room lists only the first ones; the count is everyone.
    let (root, _) = mount_in_app::<OnlineUsers>(OnlineUsersProps {
        users: Rc::new(vec![user("Alice"), user("Bob")]),
        total: 250,
    });
    let count = find(&root, "#online-users .online-count").await;
    assert_eq!(text(&count), "250 online");
}

// ---------- log in / create account ----------

#[wasm_bindgen_test]
async fn auth_form_checks_fields_before_sending() {
    let submitted = Rc::new(RefCell::new(Vec::<(AuthMode, Credentials)>::new()));
    let on_submit = {
        let submitted = submitted.clone();
        Callback::from(move |sent| submitted.borrow_mut().push(sent))
    };
    let root = mount::<AuthPage>(AuthPageProps {
        busy: false,
        problem: None,
        notice: None,
        on_submit,
        on_edit: Callback::noop(),
    });
    let form = find(&root, "form#auth-form").await;
    assert_eq!(form.get_attribute("data-mode").as_deref(), Some("login"));
    assert_eq!(
        input(&root, "#auth-password")
            .get_attribute("type")
            .as_deref(),
        Some("password")
    );

    // Nothing typed: one error under each field, nothing sent.
    click(&find(&root, "button#auth-submit[type='submit']").await);
    wait_for(&root, "#auth-form", |_| errors(&root).len() == 2).await;
    assert!(
        root.query_selector("#auth-name + .field-error")
            .unwrap()
            .is_some()
    );
    assert!(
        root.query_selector("#auth-password + .field-error")
            .unwrap()
            .is_some()
    );
    assert!(root.query_selector("#auth-error").unwrap().is_none());
    assert!(submitted.borrow().is_empty());

    // Switch to "create account": a weak password is refused under its field.
    click(&find(&root, "button#auth-toggle[type='button']").await);
    wait_for(&root, "#auth-form[data-mode='register']", |_| true).await;
    assert!(errors(&root).is_empty());
    input(&root, "#auth-name").set_value("Alice");
    input(&root, "#auth-password").set_value("password");
    click(&find(&root, "#auth-submit").await);
    wait_for(&root, "#auth-form", |_| errors(&root).len() == 1).await;
    let error = find(&root, "#auth-password + .field-error").await;
    assert!(text(&error).contains("easy to guess"), "{}", text(&error));
    assert!(submitted.borrow().is_empty());

    input(&root, "#auth-password").set_value("correct horse battery");
    click(&find(&root, "#auth-submit").await);
    wait_for(&root, "#auth-form", |_| errors(&root).is_empty()).await;
    let sent = submitted.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, AuthMode::Register);
    assert_eq!(sent[0].1.name, "Alice");
    assert_eq!(sent[0].1.password, "correct horse battery");
}

#[wasm_bindgen_test]
async fn auth_form_shows_the_servers_answer_where_it_belongs() {
    let page = |problem: AuthProblem| AuthPageProps {
        busy: false,
        problem: Some(problem),
        notice: Some("You were logged out.".into()),
        on_submit: Callback::noop(),
        on_edit: Callback::noop(),
    };
    let root = mount::<AuthPage>(page(AuthProblem::form("Wrong user name or password.")));
    let error = find(&root, "p.field-error#auth-error").await;
    assert_eq!(text(&error), "Wrong user name or password.");
    assert!(text(&root).contains("You were logged out."));

    let root = mount::<AuthPage>(page(AuthProblem::new(
        AuthField::Name,
        "name must not contain ' '",
    )));
    let error = find(&root, "#auth-name + p.field-error").await;
    assert_eq!(text(&error), "name must not contain ' '");
    assert!(root.query_selector("#auth-error").unwrap().is_none());
    assert_eq!(
        input(&root, "#auth-name")
            .get_attribute("aria-invalid")
            .as_deref(),
        Some("true")
    );
}

// ---------- sidebar and directory ----------

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

/// A sidebar, nothing shown (Alice's when mounted with [`mount_in_app`]).
fn sidebar(rooms: Vec<RoomEntry>, dms: Vec<DmEntry>) -> SidebarProps {
    SidebarProps {
        rooms,
        dms,
        active: None,
        directory_open: false,
        open: false,
        conn_state: "open".into(),
        logging_out: false,
        new_dm_error: None,
        new_dm_busy: false,
        on_logout: Callback::noop(),
    }
}

#[wasm_bindgen_test]
async fn sidebar_links_to_the_transport_lab_page() {
    let (root, _) = mount_in_app::<Sidebar>(sidebar(vec![], vec![]));
    // A plain link: the lab is a page of its own (its own wasm, not in the chat's).
    let link = find(&root, "a#open-lab[href='/lab/']").await;
    assert_eq!(text(&link), "Transport lab");
}

#[wasm_bindgen_test]
async fn the_lab_page_says_when_the_server_cannot_be_reached() {
    // The test runner's server has no `/api/me`: the lab's page cannot tell
    // whether there is a session, so it offers the log-in form and says why.
    let root = mount::<LabApp>(());
    let notice = wait_for_long(&root, "p.auth-notice", |_| true).await;
    assert_eq!(
        text(&notice),
        "Cannot reach the server. Reload the page to try again."
    );
    find(&root, "form input#auth-name").await;
    assert!(root.query_selector("#lab-start").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn sidebar_lists_conversations_with_presence_and_unread_badges() {
    let dm = |with: &str, unread: u64, online: bool| DmEntry {
        with: user(with),
        unread,
        online,
    };
    let (root, acts) = mount_in_app::<Sidebar>(SidebarProps {
        active: Some(Channel::Dm(user("bob"))),
        ..sidebar(
            vec![
                RoomEntry {
                    name: RoomName::lobby(),
                    unread: 3,
                },
                RoomEntry {
                    name: RoomName::parse("rust").unwrap(),
                    unread: 0,
                },
            ],
            vec![dm("Carol", 120, false), dm("Bob", 0, true)],
        )
    });
    find(&root, "ul#my-dms").await;
    let items = root.query_selector_all("#my-dms > li.dm").unwrap();
    let users: Vec<String> = (0..items.length())
        .map(|i| {
            let li: Element = items.item(i).unwrap().dyn_into().unwrap();
            li.get_attribute("data-user").unwrap()
        })
        .collect();
    assert_eq!(users, ["Carol", "Bob"]);
    let bob = find(&root, "li.dm[data-user='Bob']").await;
    assert!(bob.class_list().contains("online"));
    // The active conversation is found whatever the case of its name.
    assert!(bob.class_list().contains("active"));
    assert!(bob.query_selector(".unread-badge").unwrap().is_none());
    let carol = find(&root, "li.dm[data-user='Carol']").await;
    assert!(!carol.class_list().contains("online"));
    let badge = carol.query_selector(".unread-badge").unwrap().unwrap();
    assert_eq!(text(&badge), "99+");
    let lobby = find(&root, "li.room[data-room='lobby'] .unread-badge").await;
    assert_eq!(text(&lobby), "3");
    assert!(
        root.query_selector("li.room[data-room='rust'] .unread-badge")
            .unwrap()
            .is_none()
    );

    click(&carol.query_selector("button").unwrap().unwrap());
    assert_eq!(*acts.borrow(), [Action::Select(Channel::Dm(user("Carol")))]);
}

#[wasm_bindgen_test]
async fn new_conversation_form_checks_the_name_before_asking() {
    let (root, acts) = mount_in_app::<Sidebar>(sidebar(vec![], vec![]));
    let asked = || -> Vec<String> {
        acts.borrow()
            .iter()
            .filter_map(|a| match a {
                Action::OpenDm(user) => Some(user.to_string()),
                _ => None,
            })
            .collect()
    };
    let name: HtmlInputElement = find(&root, "form#new-dm-form input#new-dm-name")
        .await
        .dyn_into()
        .unwrap();
    let submit = find(
        &root,
        "form#new-dm-form button#new-dm-submit[type='submit']",
    )
    .await;

    // Oneself is refused here, and so is a name the server would refuse.
    name.set_value("alice");
    click(&submit);
    let error = find(&root, "p.field-error#new-dm-error").await;
    assert!(text(&error).contains("That is you"), "{}", text(&error));
    name.set_value("no spaces");
    click(&submit);
    wait_for(&root, "#new-dm-error", |e| {
        text(e).contains("(not a space)")
    })
    .await;
    assert!(asked().is_empty());

    name.set_value("@Bob");
    click(&submit);
    assert_eq!(asked(), ["Bob"]);
    wait_for(&root, "#new-dm-form", |_| {
        root.query_selector("#new-dm-error").unwrap().is_none()
    })
    .await;

    // The server's answer is shown in the same place.
    let (root, _) = mount_in_app::<Sidebar>(SidebarProps {
        new_dm_error: Some("There is no user named Zed.".into()),
        ..sidebar(vec![], vec![])
    });
    let error = find(&root, "#new-dm-form #new-dm-error").await;
    assert_eq!(text(&error), "There is no user named Zed.");
}

#[wasm_bindgen_test]
async fn sidebar_lists_rooms_and_marks_the_active_one() {
    let (logout, on_logout) = counter();
    let rooms = ["e2e-room", "lobby", "rust"].map(|r| RoomEntry {
        name: RoomName::parse(r).unwrap(),
        unread: 0,
    });
    let (root, acts) = mount_in_app::<Sidebar>(SidebarProps {
        active: Some(Channel::Room(RoomName::lobby())),
        on_logout,
        ..sidebar(rooms.to_vec(), vec![])
    });
    find(&root, "nav#sidebar ul#my-rooms").await;
    let items = root.query_selector_all("#my-rooms > li.room").unwrap();
    let names: Vec<String> = (0..items.length())
        .map(|i| {
            let li = items.item(i).unwrap().dyn_into::<Element>().unwrap();
            li.get_attribute("data-room").unwrap()
        })
        .collect();
    assert_eq!(names, ["e2e-room", "lobby", "rust"]);
    let active = root.query_selector_all("#my-rooms li.active").unwrap();
    assert_eq!(active.length(), 1);
    let active: Element = active.item(0).unwrap().dyn_into().unwrap();
    assert_eq!(active.get_attribute("data-room").as_deref(), Some("lobby"));
    assert!(text(&root).contains("Alice"));

    click(
        &root
            .query_selector("li.room[data-room='rust'] button")
            .unwrap()
            .unwrap(),
    );
    click(&find(&root, "button#open-directory").await);
    click(&find(&root, "button#logout").await);
    assert_eq!(
        *acts.borrow(),
        [
            Action::Select(Channel::Room(RoomName::parse("rust").unwrap())),
            Action::OpenDirectory
        ]
    );
    assert_eq!(*logout.borrow(), 1);
}

#[wasm_bindgen_test]
async fn directory_offers_join_and_validates_new_room_names() {
    let info = |room: &str, members: u32, joined: bool| RoomInfo {
        room: RoomName::parse(room).unwrap(),
        members,
        joined,
    };
    let (root, acts) = mount_in_app::<Directory>(DirectoryProps {
        rooms: Some(vec![info("games", 3, false), info("lobby", 1, true)]),
        loading: false,
        create_error: Some("#games already exists: join it from the list below.".into()),
        creating: false,
        joining: None,
    });
    let rooms = |pick: fn(&Action) -> Option<&RoomName>| -> Vec<String> {
        acts.borrow()
            .iter()
            .filter_map(|a| pick(a).map(RoomName::to_string))
            .collect()
    };
    let joined = || {
        rooms(|a| match a {
            Action::JoinRoom(room) => Some(room),
            _ => None,
        })
    };
    let created = || {
        rooms(|a| match a {
            Action::CreateRoom(room) => Some(room),
            _ => None,
        })
    };
    let games = find(&root, "#directory li.directory-room[data-room='games']").await;
    assert!(text(&games).contains("3 members"));
    let lobby = find(&root, "li.directory-room[data-room='lobby']").await;
    assert!(text(&lobby).contains("1 member"));
    assert!(lobby.query_selector("button.join").unwrap().is_none());
    click(&games.query_selector("button.join").unwrap().unwrap());
    assert_eq!(joined(), ["games"]);

    // The server's answer to the last attempt is shown under the form.
    let error = find(&root, "#create-room-form p.field-error").await;
    assert!(text(&error).contains("already exists"));

    // A name the rules refuse is not sent.
    let name = input(&root, "#create-room-form input#create-room-name");
    name.set_value("no spaces");
    click(&find(&root, "button#create-room-submit[type='submit']").await);
    wait_for(&root, "#create-room-form p.field-error", |e| {
        text(e).contains("(not a space)")
    })
    .await;
    assert!(created().is_empty());

    // Names are lower-cased, as the server does.
    name.set_value("Board-Games");
    click(&find(&root, "#create-room-submit").await);
    assert_eq!(created(), ["board-games"]);
}

// ---------- composer and banner ----------

#[wasm_bindgen_test]
async fn composer_sends_on_enter_and_keeps_shift_enter() {
    let sent = Rc::new(RefCell::new(Vec::<String>::new()));
    let on_send = {
        let sent = sent.clone();
        Callback::from(move |body: MessageBody| sent.borrow_mut().push(body.to_string()))
    };
    let root = mount::<Composer>(ComposerProps {
        on_send,
        placeholder: "Message #lobby".into(),
        on_typing: Callback::noop(),
    });
    let textarea: HtmlTextAreaElement = find(&root, "form#composer-form textarea#composer")
        .await
        .dyn_into()
        .unwrap();
    let key = |shift: bool| {
        let init = web_sys::KeyboardEventInit::new();
        init.set_key("Enter");
        init.set_shift_key(shift);
        init.set_bubbles(true);
        init.set_cancelable(true);
        KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap()
    };

    // Shift+Enter is left to the browser (a new line): not sent, not prevented.
    textarea.set_value("two\nlines");
    let event = key(true);
    textarea.dispatch_event(&event).unwrap();
    assert!(!event.default_prevented());
    assert!(sent.borrow().is_empty());

    // Enter sends the text as typed and clears the text area.
    let event = key(false);
    textarea.dispatch_event(&event).unwrap();
    assert!(event.default_prevented());
    assert_eq!(*sent.borrow(), ["two\nlines"]);
    assert_eq!(textarea.value(), "");

    // Sending nothing shows an inline error instead.
    click(&find(&root, "button#send[type='submit']").await);
    find(&root, "p.field-error").await;
    assert_eq!(sent.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn composer_reports_typing_only_with_text() {
    let (typed, on_typing) = counter();
    let root = mount::<Composer>(ComposerProps {
        on_send: Callback::noop(),
        placeholder: "Message #lobby".into(),
        on_typing,
    });
    let textarea: HtmlTextAreaElement = find(&root, "textarea#composer").await.dyn_into().unwrap();
    let edit = |value: &str| {
        textarea.set_value(value);
        let init = web_sys::InputEventInit::new();
        init.set_bubbles(true);
        let event = web_sys::InputEvent::new_with_event_init_dict("input", &init).unwrap();
        textarea.dispatch_event(&event).unwrap();
    };
    edit("h");
    edit("he");
    assert_eq!(*typed.borrow(), 2);
    edit("");
    assert_eq!(*typed.borrow(), 2);
}

#[wasm_bindgen_test]
async fn error_banner_is_dismissable() {
    let (dismissed, on_dismiss) = counter();
    let root = mount::<ErrorBanner>(ErrorBannerProps {
        notice: Some(Notice {
            code: None,
            text: "<i>something</i> went wrong".into(),
        }),
        on_dismiss,
    });
    let banner = find(&root, "#error-banner").await;
    assert!(text(&banner).contains("<i>something</i> went wrong"));
    click(&banner.query_selector("button").unwrap().unwrap());
    assert_eq!(*dismissed.borrow(), 1);
}

// ---------- polls ----------

/// "Lunch?" in the lobby, by Alice, with these counts.
fn lunch(id: u64, counts: &[u64], closed: bool, my_vote: Option<u32>) -> PollInfo {
    PollInfo {
        id,
        room: RoomName::lobby(),
        creator: user("Alice"),
        question: "Lunch?".into(),
        options: vec!["Pizza".into(), "Sushi".into(), "Salad".into()],
        closes_at: None,
        tally: Tally {
            version: 3,
            counts: counts.to_vec(),
            voters: counts.iter().sum(),
            closed,
        },
        my_vote,
    }
}

fn polls_panel(polls: Vec<PollInfo>) -> PollsPanelProps {
    PollsPanelProps {
        room: RoomName::lobby(),
        polls: Rc::new(polls),
        loading: false,
        form_open: false,
        form_busy: false,
        form_error: None,
        expanded: true,
    }
}

/// Per option of the poll `data-poll={id}`: (count, percent, bar style, mine, winner).
fn poll_rows(root: &Element, id: u64) -> Vec<(String, String, String, bool, bool)> {
    let found = root
        .query_selector_all(&format!(
            "#polls article.poll[data-poll='{id}'] button.poll-option"
        ))
        .unwrap();
    (0..found.length())
        .map(|i| {
            let b: Element = found.item(i).unwrap().dyn_into().unwrap();
            let part = |s: &str| text(&b.query_selector(s).unwrap().unwrap());
            let bar = b.query_selector(".poll-bar").unwrap().unwrap();
            (
                part(".poll-count"),
                part(".poll-percent"),
                bar.get_attribute("style").unwrap_or_default(),
                b.class_list().contains("mine"),
                b.class_list().contains("winner"),
            )
        })
        .collect()
}

fn row(count: &str, pct: &str, mine: bool, winner: bool) -> (String, String, String, bool, bool) {
    (
        count.into(),
        format!("{pct}%"),
        format!("width: {pct}%"),
        mine,
        winner,
    )
}

#[wasm_bindgen_test]
async fn poll_bars_match_the_percentages_and_votes_are_buttons() {
    let (root, acts) = mount_as::<PollsPanel>(
        "Bob",
        polls_panel(vec![lunch(7, &[2, 1, 1], false, Some(1))]),
    );
    find(&root, "section#polls article.poll[data-poll='7']").await;
    assert_eq!(
        text(&find(&root, ".polls-head .polls-count").await),
        "1 open"
    );
    assert_eq!(
        poll_rows(&root, 7),
        [
            row("2", "50", false, false),
            row("1", "25", true, false),
            row("1", "25", false, false),
        ]
    );
    let poll = find(&root, "article.poll[data-poll='7']").await;
    assert!(!poll.class_list().contains("closed"));
    assert_eq!(text(&find(&poll, "h3.poll-question").await), "Lunch?");
    assert_eq!(text(&find(&poll, ".poll-voters").await), "4");
    let mine = find(&poll, "button.poll-option.mine").await;
    assert_eq!(mine.get_attribute("data-option").as_deref(), Some("1"));
    assert_eq!(mine.get_attribute("aria-pressed").as_deref(), Some("true"));
    // Bob did not create it: no close button. A click votes.
    assert!(poll.query_selector("button.poll-close").unwrap().is_none());
    click(&find(&poll, "button.poll-option[data-option='2']").await);
    assert_eq!(*acts.borrow(), [Action::Vote { poll: 7, option: 2 }]);
}

#[wasm_bindgen_test]
async fn a_closed_poll_shows_the_result_and_takes_no_votes() {
    let (root, acts) = mount_in_app::<PollsPanel>(polls_panel(vec![
        lunch(8, &[0, 0, 0], false, None),
        lunch(7, &[1, 3, 0], true, Some(0)),
    ]));
    assert_eq!(
        text(&find(&root, ".polls-head .polls-count").await),
        "1 open · 1 closed"
    );
    // The creator may close the open one.
    let open = find(&root, "article.poll[data-poll='8']").await;
    assert_eq!(
        poll_rows(&root, 8),
        [
            row("0", "0", false, false),
            row("0", "0", false, false),
            row("0", "0", false, false),
        ]
    );
    click(&find(&open, "button.poll-close").await);
    assert_eq!(*acts.borrow(), [Action::ClosePoll(8)]);

    let closed = find(&root, "article.poll.closed[data-poll='7']").await;
    assert!(
        closed
            .query_selector("button.poll-close")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        poll_rows(&root, 7),
        [
            row("1", "25", true, false),
            row("3", "75", false, true),
            row("0", "0", false, false),
        ]
    );
    assert!(text(&closed).contains("Closed"));
    let result = text(&find(&closed, ".poll-result").await);
    assert!(result.contains("Sushi wins with 75%"), "{result}");
    let sushi = find(&closed, "button.poll-option.winner").await;
    assert!(sushi.has_attribute("disabled"));
}

#[wasm_bindgen_test]
async fn the_new_poll_form_checks_the_options_before_sending() {
    let (root, acts) = mount_in_app::<PollsPanel>(PollsPanelProps {
        form_open: true,
        ..polls_panel(vec![])
    });
    let created = || -> Vec<(PollSpec, Option<u64>)> {
        acts.borrow()
            .iter()
            .filter_map(|a| match a {
                Action::CreatePoll {
                    room,
                    spec,
                    closes_at,
                } if *room == RoomName::lobby() => Some((spec.clone(), *closes_at)),
                _ => None,
            })
            .collect()
    };
    let form = find(&root, "#polls form#new-poll-form").await;
    let edit = |selector: &str, value: &str| {
        let field: HtmlInputElement = form
            .query_selector(selector)
            .unwrap()
            .unwrap()
            .dyn_into()
            .unwrap();
        field.set_value(value);
        let init = web_sys::InputEventInit::new();
        init.set_bubbles(true);
        let event = web_sys::InputEvent::new_with_event_init_dict("input", &init).unwrap();
        field.dispatch_event(&event).unwrap();
    };
    let first = "li:nth-child(1) input.poll-option-input";
    let second = "li:nth-child(2) input.poll-option-input";
    assert_eq!(
        form.query_selector_all("input.poll-option-input")
            .unwrap()
            .length(),
        2
    );
    let submit = find(&form, "button#poll-submit[type='submit']").await;

    // Too few options (a blank field does not count).
    edit("#poll-question", "Lunch?");
    edit(first, "Pizza");
    click(&submit);
    let error = find(&form, "p.field-error#poll-error").await;
    assert!(
        text(&error).contains("at least 2 options"),
        "{}",
        text(&error)
    );

    // The same option twice.
    edit(second, " pizza ");
    wait_for(&root, "#new-poll-form", |f| {
        f.query_selector("#poll-error").unwrap().is_none()
    })
    .await;
    click(&submit);
    wait_for(&form, "#poll-error", |e| text(e).contains("same")).await;
    assert!(created().is_empty());

    // A third option field, then a valid poll.
    click(&find(&form, "button#poll-add-option[type='button']").await);
    wait_for(&form, "li:nth-child(3) input.poll-option-input", |_| true).await;
    edit(second, "Sushi");
    edit("li:nth-child(3) input.poll-option-input", "Salad");
    edit("#poll-minutes", "15");
    let before = js_sys::Date::now() as u64;
    click(&submit);
    let after = js_sys::Date::now() as u64;
    let sent = created();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.options(), ["Pizza", "Sushi", "Salad"]);
    // Closes by itself 15 minutes after it was created.
    let closes_at = sent[0].1.unwrap();
    assert!((before + 15 * 60_000..=after + 15 * 60_000).contains(&closes_at));

    // The server's complaint is shown in the same place.
    let (root, _) = mount_in_app::<PollsPanel>(PollsPanelProps {
        form_open: true,
        form_error: Some("The closing time has passed already.".into()),
        ..polls_panel(vec![])
    });
    let error = find(&root, "#new-poll-form #poll-error").await;
    assert_eq!(text(&error), "The closing time has passed already.");
}
