//! Parley's own small UI layer, in place of yew: views are functions that build a
//! tree of [`Node`]s ([`h`] and its methods), components are functions of their
//! props with React-style hooks ([`use_state`], [`use_reducer`],
//! [`use_effect_with`], …), and a render brings the page in line with the new
//! tree ([`patch`]), changing only what differs.
//!
//! Why not yew: the first download's target (≤ 120 KB gzipped) could not be met
//! with it (see `bench/TUNING.md`). yew's own code and the markup its `html!`
//! expands to were about half of the app's WebAssembly. This layer keeps the
//! same model with less: every render starts at the root (no per-component
//! scheduling), a component made with [`memo`] is skipped while its props are
//! equal and its own state unchanged (the message list: 500 messages take ~14 ms
//! to render in a release build), and element construction is a chain of small
//! calls instead of inlined structs.
//!
//! A state change asks for a render. Changes made by an event's listener render
//! when the listener returns, as with yew, so the next event sees the new
//! state; others (a message from the server, a timer) render once the current
//! task yields (a microtask), so many changes in a row render once.

mod hooks;
mod node;
mod patch;

use std::cell::{Cell, RefCell};
use std::time::Duration;

use wasm_bindgen::JsCast;
use web_sys::Element;

pub use hooks::{
    NodeRef, Reducible, TearDown, UseReducerDispatcher, UseReducerHandle, UseStateHandle,
    use_effect_with, use_force_update, use_memo, use_mut_ref, use_node_ref, use_reducer, use_state,
};
pub use node::{
    AttrValue, Callback, El, Html, Node, classes, comp, comp_keyed, h, keyed, memo, target, when,
};

use patch::{Cursor, Mounted};

/// A tree rendered into an element of the page.
struct Root {
    container: Element,
    view: Box<dyn Fn() -> Node>,
    mounted: Mounted,
}

thread_local! {
    static ROOTS: RefCell<Vec<Root>> = const { RefCell::new(Vec::new()) };
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
    static RENDERING: Cell<bool> = const { Cell::new(false) };
}

/// Renders `view` into `container` (its first children; what was there stays
/// after them), now and after every state change.
pub fn mount(container: Element, view: impl Fn() -> Node + 'static) {
    ROOTS.with(|r| {
        r.borrow_mut().push(Root {
            container,
            view: Box::new(view),
            mounted: Mounted::Empty,
        });
    });
    render_now();
}

/// Renders `view` into the page's `<body>`.
pub fn mount_body(view: impl Fn() -> Node + 'static) {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        mount(body.into(), view);
    }
}

/// Asks for a render: at the end of the event handler that asked (as a
/// browser event's listener returns), or else once the current task yields.
pub fn schedule_render() {
    if SCHEDULED.with(|s| s.replace(true)) {
        return;
    }
    wasm_bindgen_futures::spawn_local(async { flush() });
}

/// Renders now if a render was asked for, unless one is running (an event
/// that fires during a render, such as a blur when a focused element is
/// removed, leaves its render to the task scheduled for it).
pub(crate) fn flush() {
    if RENDERING.with(Cell::get) || !SCHEDULED.with(|s| s.replace(false)) {
        return;
    }
    render_now();
}

/// Renders every root, then runs the effects the render asked for.
fn render_now() {
    RENDERING.with(|r| r.set(true));
    // The roots are taken out while they render: a view that mounts another
    // root finds the list free.
    let mut roots = ROOTS.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for root in &mut roots {
        let node = (root.view)();
        let old = std::mem::take(&mut root.mounted);
        let mut at = Cursor {
            parent: &root.container,
            prev: None,
            svg: false,
            owner: std::rc::Weak::new(),
        };
        root.mounted = patch::patch(&mut at, old, node);
    }
    ROOTS.with(|r| {
        let mut r = r.borrow_mut();
        roots.append(&mut r);
        *r = roots;
    });
    RENDERING.with(|r| r.set(false));
    hooks::run_effects();
}

/// Waits `duration` (a browser timer).
pub async fn sleep(duration: Duration) {
    let ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
