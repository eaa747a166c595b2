//! The root component: owns the state, runs the side effects (the session check,
//! the connection, sending the reducer's outbox, reconnecting) and lays out the
//! screens.

use std::time::Duration;

use parley_common::{MessageBody, RoomName};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::auth::{self, AuthMode};
use crate::components::{
    AuthPage, Composer, Directory, ErrorBanner, MessageList, Sidebar, StatusBar,
};
use crate::connection::{self, Connection};
use crate::ids::ClientIdGen;
use crate::state::{Action, AppState, ConnState, Room, Session, View};

#[component]
pub fn App() -> Html {
    let state = use_reducer(|| AppState::opening(room_in_url()));
    // The running connection, if any. Written only by the connection effect.
    let connection = use_mut_ref(|| None::<Connection>);
    // Outgoing messages with a smaller id were handed to a connection already.
    let sent_upto = use_mut_ref(|| 0u64);
    let ids = use_mut_ref(ClientIdGen::random);
    let dispatch = state.dispatcher();

    // At startup: is there a session? Decides between the log-in page and the app.
    {
        let dispatch = dispatch.clone();
        use_effect_with((), move |()| {
            spawn_local(async move {
                dispatch.dispatch(match api::me().await {
                    Ok(me) => Action::SessionChecked(me.map(|me| me.name)),
                    Err(_) => Action::SignedOut {
                        notice: Some(
                            "Cannot reach the server. Reload the page to try again.".into(),
                        ),
                    },
                });
            });
        });
    }

    // The one place a WebSocket is opened: whenever the reducer asks for a new
    // connection (a new `conn_id`) while someone is logged in. The teardown drops
    // the handle, which closes it.
    {
        let connection = connection.clone();
        let dispatch = dispatch.clone();
        let signed_in = state.me().is_some();
        use_effect_with(state.conn_id, move |&conn| {
            if signed_in && conn != 0 {
                *connection.borrow_mut() = Some(connection::spawn(conn, dispatch));
            }
            move || drop(connection.borrow_mut().take())
        });
    }

    // Hands what the reducer decided to send to the connection it was meant for.
    {
        let dispatch = dispatch.clone();
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

    // A closed connection: if the session ended, back to the log-in page; else
    // try again, waiting longer after each failure.
    {
        let dispatch = dispatch.clone();
        let closed = state.me().is_some() && matches!(state.conn, ConnState::Closed { .. });
        let retries = state.retries;
        use_effect_with((state.conn_id, closed), move |&(conn, closed)| {
            if closed {
                spawn_local(async move {
                    if let Ok(None) = api::me().await {
                        return dispatch.dispatch(Action::SignedOut {
                            notice: Some("Your session has ended. Please log in again.".into()),
                        });
                    }
                    yew::platform::time::sleep(backoff(retries)).await;
                    dispatch.dispatch(Action::Reconnect { conn });
                });
            }
        });
    }

    // The URL names the room shown, so that a reload (or a bookmark) opens it.
    {
        let shown = match (&state.session, state.view, state.active_room()) {
            (Session::SignedIn(_), View::Room, Some(room)) => Some(room.name.clone()),
            _ => None,
        };
        use_effect_with(shown, |shown| {
            if let Some(room) = shown {
                show_room_in_url(room);
            }
        });
    }

    // The tab's title names the room shown.
    {
        let title = match (&state.session, state.view, state.active_room()) {
            (Session::SignedIn(_), View::Room, Some(room)) => format!("#{} · Parley", room.name),
            (Session::SignedIn(_), View::Directory, _) => "Browse rooms · Parley".to_owned(),
            _ => "Parley".to_owned(),
        };
        use_effect_with(title, |title| {
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                document.set_title(title);
            }
        });
    }

    let on_dismiss = dispatch.to_callback().reform(|()| Action::DismissError);
    let banner = html! { <ErrorBanner notice={state.error.clone()} {on_dismiss} /> };
    let status = {
        let conn = state.conn_id;
        let on_reconnect = dispatch
            .to_callback()
            .reform(move |()| Action::Reconnect { conn });
        html! {
            <StatusBar
                conn={state.conn.clone()}
                pending={state.pending_count()}
                received={state.received}
                {on_reconnect}
            />
        }
    };

    match &state.session {
        Session::Checking => html! {
            <div class="app">
                <main class="splash" aria-busy="true">
                    <div class="logo" aria-hidden="true">{ "P" }</div>
                    <p>{ "Loading Parley…" }</p>
                </main>
                { status }
            </div>
        },
        Session::SignedOut => {
            let on_submit = {
                let dispatch = dispatch.clone();
                Callback::from(move |(mode, credentials)| {
                    dispatch.dispatch(Action::AuthSubmitted);
                    let dispatch = dispatch.clone();
                    spawn_local(async move {
                        let answer = match mode {
                            AuthMode::Login => api::login(&credentials).await,
                            AuthMode::Register => api::register(&credentials).await,
                        };
                        dispatch.dispatch(match answer {
                            Ok(me) => Action::SignedIn(me.name),
                            Err(failure) => Action::AuthFailed(auth::auth_problem(&failure)),
                        });
                    });
                })
            };
            let on_edit = dispatch.to_callback().reform(|()| Action::AuthEdited);
            html! {
                <div class="app">
                    <AuthPage
                        busy={state.auth_busy}
                        problem={state.auth_problem.clone()}
                        notice={state.auth_notice.clone()}
                        {on_submit}
                        {on_edit}
                    />
                    { status }
                </div>
            }
        }
        Session::SignedIn(me) => {
            let main = match (state.view, state.active_room()) {
                (View::Directory, _) => directory(&state, &dispatch),
                (View::Room, Some(room)) => room_view(&state, &dispatch, &ids, room),
                (View::Room, None) if state.ready => no_room(&dispatch),
                (View::Room, None) => connecting(&state.conn),
            };
            let shown = state.active_room().map(|r| r.name.clone());
            let title = match (state.view, &shown) {
                (View::Room, Some(room)) => html! {
                    <h1 class="title"><span class="hash" aria-hidden="true">{ "#" }</span>{ room.as_str() }</h1>
                },
                (View::Directory, _) => html! { <h1 class="title">{ "Browse rooms" }</h1> },
                (View::Room, None) => html! { <h1 class="title">{ "Parley" }</h1> },
            };
            let leave = match (state.view, &shown) {
                (View::Room, Some(room)) => {
                    let room = room.clone();
                    let label = format!("Leave #{room}");
                    let onclick = dispatch
                        .to_callback()
                        .reform(move |_: MouseEvent| Action::LeaveRoom(room.clone()));
                    html! {
                        <button type="button" id="leave-room" class="ghost" {onclick} title={label.clone()} aria-label={label}>
                            <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
                                <path d="M8 4H4v12h4M12 6l4 4-4 4M16 10H8" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
                            </svg>
                            <span class="leave-label">{ "Leave" }</span>
                        </button>
                    }
                }
                _ => html! {},
            };
            let open_menu = dispatch
                .to_callback()
                .reform(|_: MouseEvent| Action::SetSidebar(true));
            let close_menu = dispatch
                .to_callback()
                .reform(|()| Action::SetSidebar(false));
            let close_backdrop = close_menu.reform(|_: MouseEvent| ());
            let on_logout = {
                let dispatch = dispatch.clone();
                Callback::from(move |()| {
                    dispatch.dispatch(Action::LoggingOut);
                    let dispatch = dispatch.clone();
                    spawn_local(async move {
                        dispatch.dispatch(match api::logout().await {
                            Ok(()) => Action::SignedOut { notice: None },
                            Err(_) => Action::LogoutFailed(
                                "Could not log out: the server did not answer. Try again.".into(),
                            ),
                        });
                    });
                })
            };
            html! {
                <div class={classes!("app", "shell", state.sidebar_open.then_some("menu-open"))}>
                    <Sidebar
                        me={me.clone()}
                        rooms={state.rooms.iter().map(|r| r.name.clone()).collect::<Vec<_>>()}
                        active={state.active.clone()}
                        directory_open={state.view == View::Directory}
                        open={state.sidebar_open}
                        conn_state={state.conn.as_str()}
                        logging_out={state.logging_out}
                        on_select={dispatch.to_callback().reform(Action::SelectRoom)}
                        on_open_directory={dispatch.to_callback().reform(|()| Action::OpenDirectory)}
                        {on_logout}
                        on_close={close_menu}
                    />
                    if state.sidebar_open {
                        <div class="backdrop" onclick={close_backdrop} aria-hidden="true"></div>
                    }
                    <main class="main">
                        <header class="topbar">
                            <button
                                type="button"
                                id="menu-toggle"
                                class="icon-button menu-toggle"
                                aria-label="Rooms menu"
                                aria-controls="sidebar"
                                aria-expanded={state.sidebar_open.to_string()}
                                onclick={open_menu}
                            >
                                <svg viewBox="0 0 20 20" width="20" height="20" aria-hidden="true">
                                    <path d="M3 5h14M3 10h14M3 15h14" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                                </svg>
                            </button>
                            { title }
                            { leave }
                        </header>
                        { banner }
                        { main }
                    </main>
                    { status }
                </div>
            }
        }
    }
}

/// The room named by the page's fragment (`/#rust-users`), if any.
fn room_in_url() -> Option<RoomName> {
    let hash = web_sys::window()?.location().hash().ok()?;
    RoomName::parse(hash.strip_prefix('#')?).ok()
}

/// Puts `room` in the page's fragment without adding a history entry.
fn show_room_in_url(room: &RoomName) {
    let url = format!("#{room}");
    if let Some(window) = web_sys::window()
        && window.location().hash().ok().as_deref() != Some(url.as_str())
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// How long to wait before reconnection attempt `retries + 1`: 1 s, 2 s, 4 s, …
/// up to 30 s, each time somewhere between half and all of it, so that clients
/// dropped together do not all come back at the same instant.
fn backoff(retries: u32) -> Duration {
    let full = 1000u64.saturating_mul(1 << retries.min(5)).min(30_000);
    let jitter = 0.5 + js_sys::Math::random() * 0.5;
    Duration::from_millis((full as f64 * jitter) as u64)
}

fn room_view(
    state: &AppState,
    dispatch: &UseReducerDispatcher<AppState>,
    ids: &std::rc::Rc<std::cell::RefCell<ClientIdGen>>,
    room: &Room,
) -> Html {
    let name = room.name.clone();
    let on_send = {
        let dispatch = dispatch.clone();
        let ids = ids.clone();
        let room = name.clone();
        Callback::from(move |body: MessageBody| {
            let Some(client_id) = ids.borrow_mut().next_id() else {
                return dispatch
                    .dispatch(Action::ShowError("Could not number the message.".into()));
            };
            dispatch.dispatch(Action::Queue {
                room: room.clone(),
                client_id,
                body,
            });
        })
    };
    let on_load_older = {
        let room = name.clone();
        dispatch
            .to_callback()
            .reform(move |()| Action::LoadOlder(room.clone()))
    };
    let on_discard = {
        let room = name.clone();
        dispatch
            .to_callback()
            .reform(move |client_id| Action::DiscardFailed {
                room: room.clone(),
                client_id,
            })
    };
    let placeholder: AttrValue = match state.conn {
        ConnState::Open => format!("Message #{name}").into(),
        ConnState::Connecting => "Connecting… you can type already".into(),
        ConnState::Idle | ConnState::Closing | ConnState::Closed { .. } => {
            "Offline: sent when you are back online".into()
        }
    };
    html! {
        <>
            <MessageList
                key={name.as_str()}
                room={name.clone()}
                messages={room.messages.clone()}
                pending={room.pending.clone()}
                me={state.me().cloned()}
                loaded={room.loaded}
                loading={room.loading}
                has_more={room.has_more}
                {on_load_older}
                {on_discard}
            />
            <Composer {on_send} {placeholder} />
        </>
    }
}

fn directory(state: &AppState, dispatch: &UseReducerDispatcher<AppState>) -> Html {
    let dir = &state.directory;
    html! {
        <Directory
            rooms={dir.rooms.clone()}
            loading={dir.loading}
            create_error={dir.create_error.clone()}
            creating={dir.creating.is_some()}
            joining={dir.joining.clone()}
            on_join={dispatch.to_callback().reform(Action::JoinRoom)}
            on_open={dispatch.to_callback().reform(Action::SelectRoom)}
            on_create={dispatch.to_callback().reform(Action::CreateRoom)}
            on_create_edit={dispatch.to_callback().reform(|()| Action::CreateEdited)}
        />
    }
}

/// Before `welcome` lists the user's rooms.
fn connecting(conn: &ConnState) -> Html {
    let offline = matches!(conn, ConnState::Closed { .. });
    html! {
        <div class="empty-state" aria-busy={(!offline).to_string()}>
            if offline {
                <p class="empty-title">{ "Offline" }</p>
                <p>{ "Your rooms appear once the connection is back." }</p>
            } else {
                <span class="spinner" aria-hidden="true"></span>
                <p>{ "Connecting…" }</p>
            }
        </div>
    }
}

fn no_room(dispatch: &UseReducerDispatcher<AppState>) -> Html {
    let onclick = dispatch
        .to_callback()
        .reform(|_: MouseEvent| Action::OpenDirectory);
    html! {
        <div class="empty-state">
            <p class="empty-title">{ "You are not in any room" }</p>
            <p>{ "Join a room or create one to start chatting." }</p>
            <button type="button" class="primary" {onclick}>{ "Browse rooms" }</button>
        </div>
    }
}
