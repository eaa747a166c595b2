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

use parley_common::{ChatMessage, ClientMsgId, MessageBody, RoomName, Username};
use parley_frontend::components::{
    Composer, ComposerProps, ErrorBanner, ErrorBannerProps, MessageList, MessageListProps,
    NamePrompt, NamePromptProps, StatusBar, StatusBarProps,
};
use parley_frontend::state::{ConnState, Notice, Pending};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, KeyboardEvent};
use yew::{BaseComponent, Callback, Renderer};

wasm_bindgen_test_configure!(run_in_browser);

/// Renders `COMP` with `props` into a new `<div>` appended to `<body>`.
fn mount<COMP: BaseComponent>(props: COMP::Properties) -> Element {
    let document = gloo_document();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    Renderer::<COMP>::with_root_and_props(root.clone(), props).render();
    root
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

async fn find(root: &Element, selector: &str) -> Element {
    wait_for(root, selector, |_| true).await
}

fn text(el: &Element) -> String {
    el.text_content().unwrap_or_default()
}

fn click(el: &Element) {
    el.dyn_ref::<HtmlElement>().unwrap().click();
}

fn chat(seq: u64, sender: &str, body: &str) -> ChatMessage {
    ChatMessage {
        room: RoomName::lobby(),
        seq,
        sender: Username::parse(sender).unwrap(),
        body: MessageBody::parse(body).unwrap(),
        ts: 1_700_000_000_000,
        client_id: ClientMsgId::parse(&format!("c{seq}")).unwrap(),
    }
}

#[wasm_bindgen_test]
async fn status_bar_shows_state_and_counts() {
    let root = mount::<StatusBar>(StatusBarProps {
        conn: ConnState::Open,
        pending: 2,
        received: 17,
        on_reconnect: Callback::noop(),
    });
    let state = find(&root, "#conn-state").await;
    assert_eq!(state.get_attribute("data-state").as_deref(), Some("open"));
    assert_eq!(text(&state), "open");
    assert_eq!(text(&find(&root, "#pending-count").await), "2");
    assert_eq!(text(&find(&root, "#received-count").await), "17");
    assert!(root.query_selector("#reconnect").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn closed_status_bar_explains_and_offers_reconnect() {
    let clicks = Rc::new(RefCell::new(0));
    let on_reconnect = {
        let clicks = clicks.clone();
        Callback::from(move |()| *clicks.borrow_mut() += 1)
    };
    let root = mount::<StatusBar>(StatusBarProps {
        conn: ConnState::Closed {
            code: Some(1001),
            reason: "server shutting down".into(),
        },
        pending: 0,
        received: 0,
        on_reconnect,
    });
    let state = find(&root, "#conn-state").await;
    assert_eq!(state.get_attribute("data-state").as_deref(), Some("closed"));
    assert!(text(&find(&root, "#conn-detail").await).contains("1001"));
    click(&find(&root, "#reconnect").await);
    assert_eq!(*clicks.borrow(), 1);
}

#[wasm_bindgen_test]
async fn message_bodies_are_text_not_html() {
    let root = mount::<MessageList>(MessageListProps {
        messages: Rc::new(vec![
            chat(1, "Mallory", "<b>bold</b><img src=x onerror=alert(1)>"),
            chat(2, "Alice", "line one\nline two"),
        ]),
        pending: vec![],
        me: Some(Username::parse("Alice").unwrap()),
        on_discard: Callback::noop(),
    });
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
    let pending = |id: &str, failed: Option<&str>| Pending {
        client_id: ClientMsgId::parse(id).unwrap(),
        body: MessageBody::parse("on its way").unwrap(),
        failed: failed.map(str::to_owned),
    };
    let root = mount::<MessageList>(MessageListProps {
        messages: Rc::new(vec![chat(1, "Bob", "hi")]),
        pending: vec![pending("p1", None), pending("p2", Some("rate limited"))],
        me: Some(Username::parse("Alice").unwrap()),
        on_discard: Callback::noop(),
    });
    find(&root, "li.message[data-seq='1']").await;
    let items = root.query_selector_all("#messages > li").unwrap();
    assert_eq!(items.length(), 3);
    let last_two: Vec<Element> = (1..3)
        .map(|i| items.item(i).unwrap().dyn_into::<Element>().unwrap())
        .collect();
    assert_eq!(
        last_two[0].get_attribute("class").as_deref(),
        Some("message own pending")
    );
    assert!(last_two[0].get_attribute("data-seq").is_none());
    assert!(last_two[1].class_list().contains("failed"));
    assert!(text(&last_two[1]).contains("rate limited"));
}

#[wasm_bindgen_test]
async fn empty_name_shows_an_inline_error() {
    let submitted = Rc::new(RefCell::new(Vec::<String>::new()));
    let on_submit = {
        let submitted = submitted.clone();
        Callback::from(move |name: Username| submitted.borrow_mut().push(name.to_string()))
    };
    let root = mount::<NamePrompt>(NamePromptProps { on_submit });
    let form = find(&root, "form#name-form").await;
    assert!(form.query_selector("input#name-input").unwrap().is_some());
    click(&find(&root, "button#name-submit[type='submit']").await);
    let error = find(&root, "p.field-error").await;
    assert!(!text(&error).is_empty());
    assert!(submitted.borrow().is_empty());

    // A valid name (trimmed) is submitted and the error goes away.
    let input: HtmlInputElement = find(&root, "#name-input").await.dyn_into().unwrap();
    input.set_value("  Alice ");
    click(&find(&root, "#name-submit").await);
    wait_for(&root, "form#name-form", |form| {
        form.query_selector(".field-error").unwrap().is_none()
    })
    .await;
    assert_eq!(*submitted.borrow(), ["Alice"]);
}

#[wasm_bindgen_test]
async fn composer_sends_on_enter_and_keeps_shift_enter() {
    let sent = Rc::new(RefCell::new(Vec::<String>::new()));
    let on_send = {
        let sent = sent.clone();
        Callback::from(move |body: MessageBody| sent.borrow_mut().push(body.to_string()))
    };
    let root = mount::<Composer>(ComposerProps {
        on_send,
        placeholder: "Message".into(),
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
async fn error_banner_is_dismissable() {
    let dismissed = Rc::new(RefCell::new(false));
    let on_dismiss = {
        let dismissed = dismissed.clone();
        Callback::from(move |()| *dismissed.borrow_mut() = true)
    };
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
    assert!(*dismissed.borrow());
}
