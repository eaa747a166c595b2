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
use parley_frontend::components::*;
use parley_frontend::lab::app::lab_app;
use parley_frontend::state::{ConnState, Notice, Pending};
use parley_frontend::time;
use parley_frontend::transport::Transport;
use parley_frontend::ui::{self, Callback, Html};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, KeyboardEvent};

wasm_bindgen_test_configure!(run_in_browser);

/// Renders the component `view` with `props` (the app's own UI layer) into a new
/// `<div>` appended to `<body>`.
fn render<P: Clone + 'static>(view: fn(&P) -> Html, props: P) -> Element {
    let document = gloo_document();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    ui::mount(root.clone(), move || ui::comp(view, props.clone()));
    root
}

fn gloo_document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Waits (yielding to the page's tasks, at most ~2 s) until `selector` matches
/// inside `root` and `ready` accepts the element.
async fn wait_for(root: &Element, selector: &str, ready: impl Fn(&Element) -> bool) -> Element {
    for _ in 0..200 {
        if let Some(el) = root.query_selector(selector).unwrap()
            && ready(&el)
        {
            return el;
        }
        ui::sleep(Duration::from_millis(10)).await;
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
        ui::sleep(Duration::from_millis(100)).await;
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

/// A message list for `#lobby`, everything loaded, seen by Alice.
fn list(messages: Vec<ChatMessage>, pending: Vec<Pending>) -> MessageListProps {
    MessageListProps {
        channel: Channel::Room(RoomName::lobby()),
        messages: Rc::new(messages),
        pending: Rc::new(pending),
        me: Some(Username::parse("Alice").unwrap()),
        loaded: true,
        loading: false,
        has_more: false,
        on_load_older: Callback::noop(),
        on_discard: Callback::noop(),
        on_retry: Callback::noop(),
        divider: None,
        last_read: 0,
        reading: false,
        on_read: Callback::noop(),
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

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

mod auth_page;
mod composer;
mod lab;
mod message_list;
mod polls;
mod presence;
mod sidebar;
mod status_bar;
mod ui_layer;
