//! The root component: owns the state, runs the side effects (the session check,
//! the connection, sending the reducer's outbox, reconnecting, the page's focus,
//! the typing indicators' clock) and lays out the screens. The transport lab is
//! a page of its own (`/lab/`, [`crate::lab::app`]).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use parley_common::{Channel, MessageBody, PollSpec, RoomName, Username};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::auth;
use crate::components::{
    AuthPage, Composer, Directory, DmEntry, ErrorBanner, MessageList, OnlineUsers, PollsPanel,
    RoomEntry, Sidebar, StatusBar, TypingIndicator, splash,
};
use crate::connection::{self, Connection};
use crate::ids::ClientIdGen;
use crate::state::{Action, AppState, Chat, ConnState, Session, View};
use crate::transport::reconnect_delay_ms;

#[component]
pub fn App() -> Html {
    let state = use_reducer(|| AppState::opening(channel_in_url()));
    // `?transport=` in the page's URL; read once.
    let mode = *use_memo((), |()| connection::mode_from_page());
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
                        notice: Some(auth::UNREACHABLE.into()),
                    },
                });
            });
        });
    }

    // The one place a connection is opened: whenever the reducer asks for a new
    // one (a new `conn_id`) while someone is logged in. Its `hello` resumes from
    // what the state shows now. The teardown drops the handle, which closes it.
    {
        let connection = connection.clone();
        let dispatch = dispatch.clone();
        let signed_in = state.me().is_some();
        let state = state.clone();
        use_effect_with(state.conn_id, move |&conn| {
            if signed_in && conn != 0 {
                let hello = state.hello();
                *connection.borrow_mut() = Some(connection::spawn(conn, hello, mode, dispatch));
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

    // Whether the user can be reading: the page is visible and has the focus.
    {
        let dispatch = dispatch.clone();
        use_effect_with((), move |()| {
            let listeners = watch_focus(&dispatch);
            move || drop(listeners)
        });
    }

    // The typing indicators' clock: a tick when the next one runs out.
    {
        let dispatch = dispatch.clone();
        use_effect_with(state.typing_expires(), move |&expires| {
            let cancelled = Rc::new(Cell::new(false));
            if let Some(at) = expires {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    let wait = at.saturating_sub(now_ms()).saturating_add(20);
                    yew::platform::time::sleep(Duration::from_millis(wait)).await;
                    if !cancelled.get() {
                        dispatch.dispatch(Action::Tick { now_ms: now_ms() });
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    // A closed connection: try again after a while, longer after each failure
    // (the status bar counts down and offers to try at once). Meanwhile, if the
    // session ended, back to the log-in page.
    {
        let dispatch = dispatch.clone();
        let closed = match (&state.conn, state.me()) {
            (ConnState::Closed { code, .. }, Some(_)) => Some(*code),
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
                    yew::platform::time::sleep(Duration::from_millis(delay)).await;
                    // Ignored if the user retried already (the connection moved on).
                    if !cancelled.get() {
                        dispatch.dispatch(Action::Reconnect { conn });
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    // The URL names the chat shown, so that a reload (or a bookmark) opens it.
    {
        let shown = match (&state.session, state.view, state.active_chat()) {
            (Session::SignedIn(_), View::Chat, Some(chat)) => Some(chat.channel.clone()),
            _ => None,
        };
        use_effect_with(shown, |shown| {
            if let Some(channel) = shown {
                show_channel_in_url(channel);
            }
        });
    }

    // The tab's title names the chat shown, after the number of unread messages.
    {
        let unread = match state.unread_total() {
            0 => String::new(),
            n => format!("({n}) "),
        };
        let title = match (&state.session, state.view, state.active_chat()) {
            (Session::SignedIn(_), View::Chat, Some(chat)) => {
                format!("{unread}{} · Parley", chat.channel)
            }
            (Session::SignedIn(_), View::Directory, _) => {
                format!("{unread}Browse rooms · Parley")
            }
            _ => "Parley".to_owned(),
        };
        use_effect_with(title, |title| {
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                document.set_title(title);
            }
        });
    }

    match &state.session {
        Session::Checking => html! {
            <div class="app">
                { splash("Loading Parley…") }
            </div>
        },
        Session::SignedOut => {
            let on_submit = {
                let dispatch = dispatch.clone();
                Callback::from(move |(mode, credentials)| {
                    dispatch.dispatch(Action::AuthSubmitted);
                    let dispatch = dispatch.clone();
                    spawn_local(async move {
                        dispatch.dispatch(match api::sign_in(mode, &credentials).await {
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
                </div>
            }
        }
        Session::SignedIn(me) => {
            let on_dismiss = dispatch.to_callback().reform(|()| Action::DismissError);
            let banner = html! { <ErrorBanner notice={state.error.clone()} {on_dismiss} /> };
            // The footer about the connection: only once someone is logged in. Before
            // that there is no connection to speak of, and "closed" would read as an error.
            let status = {
                let conn = state.conn_id;
                let on_retry_now = dispatch
                    .to_callback()
                    .reform(move |()| Action::Reconnect { conn });
                html! {
                    <StatusBar
                        conn={state.conn.clone()}
                        transport={state.transport}
                        reconnect_at={state.reconnect_at.filter(|_| state.can_reconnect())}
                        pending={state.pending_count()}
                        received={state.received}
                        {on_retry_now}
                    />
                }
            };
            let main = match (state.view, state.active_chat()) {
                (View::Directory, _) => directory(&state, &dispatch),
                (View::Chat, Some(chat)) => chat_view(&state, &dispatch, &ids, chat),
                (View::Chat, None) if state.ready => no_room(&dispatch),
                (View::Chat, None) => connecting(&state.conn),
            };
            let shown = state.active_chat().filter(|_| state.view == View::Chat);
            let title = match shown.map(|c| (&c.channel, c)) {
                Some((Channel::Room(room), chat)) => html! {
                    <>
                        <h1 class="title"><span class="hash" aria-hidden="true">{ "#" }</span>{ room.as_str() }</h1>
                        <OnlineUsers users={chat.online.clone()} total={chat.online_total} me={state.me().cloned()} />
                    </>
                },
                Some((Channel::Dm(user), chat)) => {
                    let online = chat.peer_online();
                    html! {
                        <>
                            <h1 class="title"><span class="hash" aria-hidden="true">{ "@" }</span>{ user.as_str() }</h1>
                            <span id="dm-status" class={classes!("dm-status", online.then_some("online"))}>
                                <span class="presence-dot" aria-hidden="true"></span>
                                { if online { "Online" } else { "Offline" } }
                            </span>
                        </>
                    }
                }
                None if state.view == View::Directory => {
                    html! { <h1 class="title">{ "Browse rooms" }</h1> }
                }
                None => html! { <h1 class="title">{ "Parley" }</h1> },
            };
            let leave = match shown.and_then(|c| c.channel.room()) {
                Some(room) => {
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
                None => html! {},
            };
            // Behind the menu (phone layout): something unread in another chat.
            let unread_elsewhere = state
                .chats()
                .any(|c| c.unread() > 0 && state.active.as_ref() != Some(&c.channel));
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
                        rooms={state.rooms.iter().filter_map(room_entry).collect::<Vec<_>>()}
                        dms={state.dms.iter().filter_map(dm_entry).collect::<Vec<_>>()}
                        active={state.active.clone()}
                        directory_open={state.view == View::Directory}
                        open={state.sidebar_open}
                        conn_state={state.conn.as_str()}
                        logging_out={state.logging_out}
                        new_dm_error={state.new_dm.error.clone()}
                        new_dm_busy={state.new_dm.opening.is_some()}
                        on_select={dispatch.to_callback().reform(Action::Select)}
                        on_new_dm={dispatch.to_callback().reform(Action::OpenDm)}
                        on_new_dm_edit={dispatch.to_callback().reform(|()| Action::NewDmEdited)}
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
                                class={classes!("icon-button", "menu-toggle", unread_elsewhere.then_some("has-unread"))}
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

/// The chat named by the page's fragment (`/#rust-users`, `/#@bob`), if any.
fn channel_in_url() -> Option<Channel> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let name = hash.strip_prefix('#')?;
    match name.strip_prefix('@') {
        Some(user) => Username::parse(user).ok().map(Channel::Dm),
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

fn room_entry(chat: &Chat) -> Option<RoomEntry> {
    Some(RoomEntry {
        name: chat.channel.room()?.clone(),
        unread: chat.unread(),
    })
}

fn dm_entry(chat: &Chat) -> Option<DmEntry> {
    Some(DmEntry {
        with: chat.peer()?.clone(),
        unread: chat.unread(),
        online: chat.peer_online(),
    })
}

/// Milliseconds since the Unix epoch, by the browser's clock.
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
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
fn watch_focus(dispatch: &UseReducerDispatcher<AppState>) -> Vec<Listener> {
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

fn chat_view(
    state: &AppState,
    dispatch: &UseReducerDispatcher<AppState>,
    ids: &Rc<std::cell::RefCell<ClientIdGen>>,
    chat: &Chat,
) -> Html {
    let channel = chat.channel.clone();
    let on_send = {
        let dispatch = dispatch.clone();
        let ids = ids.clone();
        let channel = channel.clone();
        Callback::from(move |body: MessageBody| {
            let Some(client_id) = ids.borrow_mut().next_id() else {
                return dispatch
                    .dispatch(Action::ShowError("Could not number the message.".into()));
            };
            dispatch.dispatch(Action::Queue {
                channel: channel.clone(),
                client_id,
                body,
            });
        })
    };
    let on_typing = {
        let channel = channel.clone();
        dispatch.to_callback().reform(move |()| Action::Typed {
            channel: channel.clone(),
            now_ms: now_ms(),
        })
    };
    let on_load_older = {
        let channel = channel.clone();
        dispatch
            .to_callback()
            .reform(move |()| Action::LoadOlder(channel.clone()))
    };
    let on_discard = {
        let channel = channel.clone();
        dispatch
            .to_callback()
            .reform(move |client_id| Action::DiscardFailed {
                channel: channel.clone(),
                client_id,
            })
    };
    let on_retry = {
        let channel = channel.clone();
        dispatch
            .to_callback()
            .reform(move |client_id| Action::RetryFailed {
                channel: channel.clone(),
                client_id,
            })
    };
    let on_read = {
        let channel = channel.clone();
        dispatch.to_callback().reform(move |seq| Action::Read {
            channel: channel.clone(),
            seq,
        })
    };
    let placeholder: AttrValue = match state.conn {
        ConnState::Open => format!("Message {channel}").into(),
        ConnState::Connecting => "Connecting… you can type already".into(),
        ConnState::Idle | ConnState::Closing | ConnState::Closed { .. } => {
            "Offline: sent when you are back online".into()
        }
    };
    let typing: Vec<Username> = chat.typing.iter().map(|t| t.user.clone()).collect();
    let polls = chat
        .channel
        .room()
        .map(|room| polls_panel(state, dispatch, room, chat));
    html! {
        <>
            { for polls }
            <MessageList
                key={channel.to_string()}
                channel={channel.clone()}
                messages={chat.messages.clone()}
                pending={chat.pending.clone()}
                me={state.me().cloned()}
                loaded={chat.loaded}
                loading={chat.loading}
                has_more={chat.has_more}
                divider={chat.divider}
                last_read={chat.last_read}
                reading={state.focused && state.ready}
                {on_load_older}
                {on_discard}
                {on_retry}
                {on_read}
            />
            <TypingIndicator names={typing} />
            <Composer key={channel.to_string()} {on_send} {on_typing} {placeholder} />
        </>
    }
}

fn polls_panel(
    state: &AppState,
    dispatch: &UseReducerDispatcher<AppState>,
    room: &RoomName,
    chat: &Chat,
) -> Html {
    let on_create = {
        let room = room.clone();
        dispatch
            .to_callback()
            .reform(move |(spec, minutes): (PollSpec, Option<u32>)| {
                let closes_at =
                    minutes.map(|m| now_ms().saturating_add(u64::from(m).saturating_mul(60_000)));
                Action::CreatePoll {
                    room: room.clone(),
                    spec,
                    closes_at,
                }
            })
    };
    let form = &state.new_poll;
    html! {
        <PollsPanel
            key={room.to_string()}
            room={room.clone()}
            polls={chat.polls.clone()}
            me={state.me().cloned()}
            loading={chat.polls_loading}
            form_open={form.open}
            form_busy={form.creating.is_some()}
            form_error={form.error.clone()}
            on_vote={dispatch.to_callback().reform(|(poll, option)| Action::Vote { poll, option })}
            on_close={dispatch.to_callback().reform(Action::ClosePoll)}
            on_form={dispatch.to_callback().reform(Action::NewPollForm)}
            {on_create}
            on_form_edit={dispatch.to_callback().reform(|()| Action::NewPollEdited)}
        />
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
            on_open={dispatch.to_callback().reform(|room| Action::Select(Channel::Room(room)))}
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
