//! The root's side effects, one concern per hook: the session check at
//! startup, the connection, the browser's network, the page's focus, the
//! typing indicators' clock, reconnecting, and what the URL and the tab's
//! title show. Each reads the
//! state it needs and talks back only through the reducer's dispatcher.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use parley_common::Channel;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;
use yew::platform::time::sleep;
use yew::prelude::*;

use crate::api;
use crate::auth;
use crate::connection::{self, Connection};
use crate::state::{Action, AppState, ConnState, Session, View};
use crate::time::now_ms;
use crate::transport::reconnect_delay_ms;

type Dispatch = UseReducerDispatcher<AppState>;

/// At startup: is there a session? Decides between the log-in page and the app.
#[hook]
pub fn use_session_check(dispatch: &Dispatch) {
    let dispatch = dispatch.clone();
    use_effect_with((), move |()| {
        spawn_local(async move {
            dispatch.dispatch(match api::me().await {
                Ok(me) => Action::SessionChecked(me.map(|me| me.name)),
                Err(_) => Action::SignedOut {
                    notice: Some(auth::UNREACHABLE.into()),
                },
            });
        });
    });
}

/// The connection: opened whenever the reducer asks for a new one (a new
/// `conn_id`) while someone is logged in, its `hello` resuming from what the
/// state shows now; closed by dropping its handle (the effect's teardown).
/// Whatever the reducer decides to send goes to the connection it was meant
/// for.
#[hook]
pub fn use_connection(state: &UseReducerHandle<AppState>) {
    // `?transport=` in the page's URL; read once.
    let mode = *use_memo((), |()| connection::mode_from_page());
    let connection = use_mut_ref(|| None::<Connection>);
    // Outgoing messages with a smaller id were handed to a connection already.
    let sent_upto = use_mut_ref(|| 0u64);
    {
        let connection = connection.clone();
        let dispatch = state.dispatcher();
        // A new id with no connection wanted (logged out, or offline) only
        // closes the old one.
        let wanted = state.me().is_some() && state.conn == ConnState::Connecting;
        let state = state.clone();
        use_effect_with(state.conn_id, move |&conn| {
            if wanted && conn != 0 {
                let hello = state.hello();
                *connection.borrow_mut() = Some(connection::spawn(conn, hello, mode, dispatch));
            }
            move || drop(connection.borrow_mut().take())
        });
    }
    let dispatch = state.dispatcher();
    let state = state.clone();
    use_effect_with(state.next_out, move |&next_out| {
        let from = *sent_upto.borrow();
        if let Some(connection) = connection.borrow().as_ref() {
            for out in state.outgoing_from(from) {
                // Meant for an earlier connection: stale, its answer would be lost.
                if out.conn == connection.id() {
                    connection.send(out.msg.clone());
                }
            }
        }
        *sent_upto.borrow_mut() = next_out;
        dispatch.dispatch(Action::Flushed { upto: next_out });
    });
}

/// The browser's network: offline at startup, then each `offline` and
/// `online` event of the window. The reducer closes the connection when it
/// goes and reconnects at once when it is back.
#[hook]
pub fn use_network(dispatch: &Dispatch) {
    let dispatch = dispatch.clone();
    use_effect_with((), move |()| {
        // At startup only "offline" is news (the reducer starts online).
        if !connection::browser_online() {
            dispatch.dispatch(Action::Offline);
        }
        // One handler for both events, reading `onLine` again each time; set
        // as the window's `onoffline` / `ononline` (the app's only handlers
        // there), which costs less wasm than two listeners.
        let report = Closure::<dyn Fn()>::new(move || {
            dispatch.dispatch(if connection::browser_online() {
                Action::Online
            } else {
                Action::Offline
            });
        });
        let window = web_sys::window();
        if let Some(window) = &window {
            let handler = Some(report.as_ref().unchecked_ref());
            window.set_onoffline(handler);
            window.set_ononline(handler);
        }
        move || {
            if let Some(window) = window {
                window.set_onoffline(None);
                window.set_ononline(None);
            }
            drop(report);
        }
    });
}

/// Whether the user can be reading: the page is visible and has the focus.
#[hook]
pub fn use_page_focus(dispatch: &Dispatch) {
    let dispatch = dispatch.clone();
    use_effect_with((), move |()| {
        let listeners = watch_focus(&dispatch);
        move || drop(listeners)
    });
}

/// The typing indicators' clock: a tick when the next one runs out.
#[hook]
pub fn use_typing_clock(state: &UseReducerHandle<AppState>) {
    let dispatch = state.dispatcher();
    use_effect_with(state.typing_expires(), move |&expires| {
        let cancelled = Rc::new(Cell::new(false));
        if let Some(at) = expires {
            let cancelled = cancelled.clone();
            spawn_local(async move {
                let wait = at.saturating_sub(now_ms()).saturating_add(20);
                sleep(Duration::from_millis(wait)).await;
                if !cancelled.get() {
                    dispatch.dispatch(Action::Tick { now_ms: now_ms() });
                }
            });
        }
        move || cancelled.set(true)
    });
}

/// A closed connection: try again after a while, longer after each failure
/// (the status bar counts down and offers to try at once). Meanwhile, if the
/// session ended, back to the log-in page. Not while the browser is offline:
/// its `online` event reconnects ([`use_network`]).
#[hook]
pub fn use_reconnect(state: &UseReducerHandle<AppState>) {
    let dispatch = state.dispatcher();
    let closed = match (&state.conn, state.me()) {
        (ConnState::Closed { code, .. }, Some(_)) if !state.offline => Some(*code),
        _ => None,
    };
    let retries = state.retries;
    use_effect_with((state.conn_id, closed), move |&(conn, closed)| {
        let cancelled = Rc::new(Cell::new(false));
        if let Some(code) = closed {
            let going_away = code == Some(parley_common::close::GOING_AWAY);
            let delay = reconnect_delay_ms(retries, going_away, js_sys::Math::random());
            dispatch.dispatch(Action::ReconnectScheduled {
                conn,
                at_ms: now_ms().saturating_add(delay),
            });
            {
                let dispatch = dispatch.clone();
                spawn_local(async move {
                    if let Ok(None) = api::me().await {
                        dispatch.dispatch(Action::SignedOut {
                            notice: Some("Your session has ended. Please log in again.".into()),
                        });
                    }
                });
            }
            let cancelled = cancelled.clone();
            spawn_local(async move {
                sleep(Duration::from_millis(delay)).await;
                // Ignored if the user retried already (the connection moved on).
                if !cancelled.get() {
                    dispatch.dispatch(Action::Reconnect { conn });
                }
            });
        }
        move || cancelled.set(true)
    });
}

/// The URL names the chat shown, so that a reload (or a bookmark) opens it;
/// the tab's title names it too, after the number of unread messages.
#[hook]
pub fn use_location_and_title(state: &AppState) {
    let signed_in = matches!(state.session, Session::SignedIn(_));
    let shown = match (signed_in, state.view, state.active_chat()) {
        (true, View::Chat, Some(chat)) => Some(chat.channel.clone()),
        _ => None,
    };
    let unread = match state.unread_total() {
        0 => String::new(),
        n => format!("({n}) "),
    };
    let title = match (signed_in, state.view, &shown) {
        (true, View::Chat, Some(channel)) => format!("{unread}{channel} · Parley"),
        (true, View::Directory, _) => format!("{unread}Browse rooms · Parley"),
        _ => "Parley".to_owned(),
    };
    use_effect_with(shown, |shown| {
        if let Some(channel) = shown {
            show_channel_in_url(channel);
        }
    });
    use_effect_with(title, |title| {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(title);
        }
    });
}

/// The chat named by the page's fragment (`/#rust-users`, `/#@bob`), if any.
pub fn channel_in_url() -> Option<Channel> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let name = hash.strip_prefix('#')?;
    match name.strip_prefix('@') {
        Some(user) => parley_common::Username::parse(user).ok().map(Channel::Dm),
        None => crate::lower::room_name(name).ok().map(Channel::Room),
    }
}

/// Puts `channel` in the page's fragment without adding a history entry.
fn show_channel_in_url(channel: &Channel) {
    let url = match channel {
        Channel::Room(room) => format!("#{room}"),
        Channel::Dm(user) => format!("#@{user}"),
    };
    if let Some(window) = web_sys::window()
        && window.location().hash().ok().as_deref() != Some(url.as_str())
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// Whether the page is shown and has the keyboard focus.
fn page_focused() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| !d.hidden() && d.has_focus().unwrap_or(true))
}

/// An event listener, removed when dropped.
struct Listener {
    target: web_sys::EventTarget,
    event: &'static str,
    callback: Closure<dyn Fn()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

/// Reports the page's focus now and whenever it changes (window focus and blur,
/// the tab hidden or shown). Dropping the listeners stops it.
fn watch_focus(dispatch: &Dispatch) -> Vec<Listener> {
    dispatch.dispatch(Action::Focus(page_focused()));
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let mut targets: Vec<(web_sys::EventTarget, &'static str)> = vec![
        (window.clone().into(), "focus"),
        (window.clone().into(), "blur"),
    ];
    if let Some(document) = window.document() {
        targets.push((document.into(), "visibilitychange"));
    }
    targets
        .into_iter()
        .filter_map(|(target, event)| {
            let dispatch = dispatch.clone();
            listen(target, event, move || {
                // While a blur event runs, the document may still claim the focus.
                let focused = event != "blur" && page_focused();
                dispatch.dispatch(Action::Focus(focused));
            })
        })
        .collect()
}

/// Calls `f` on each `event` at `target` until the listener is dropped.
fn listen(
    target: web_sys::EventTarget,
    event: &'static str,
    f: impl Fn() + 'static,
) -> Option<Listener> {
    let callback = Closure::<dyn Fn()>::new(f);
    target
        .add_event_listener_with_callback(event, callback.as_ref().unchecked_ref())
        .ok()?;
    Some(Listener {
        target,
        event,
        callback,
    })
}
