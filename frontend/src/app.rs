//! The root component: owns the state (a `use_reducer` over [`AppState`]),
//! runs the side effects ([`hooks`]: the session check, the connection,
//! reconnecting, the page's focus, the typing indicators' clock, the URL and
//! the title), shares who is logged in and the way to dispatch with every
//! component through one `ContextProvider<AppContext>`, and lays out the
//! screens. The transport lab is a page of its own (`/lab/`,
//! [`crate::lab::app`]).

mod hooks;

use std::cell::RefCell;
use std::rc::Rc;

use parley_common::{Channel, MessageBody, RoomName, Username};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::auth;
use crate::components::{
    AuthPage, Composer, Directory, DmEntry, ErrorBanner, MessageList, OnlineUsers, PollsPanel,
    RoomEntry, Sidebar, StatusBar, TypingIndicator, loading_card, offline_banner,
};
use crate::context::AppContext;
use crate::ids::ClientIdGen;
use crate::state::{Action, AppState, Chat, ConnState, Session, View};
use crate::time::now_ms;

#[component]
pub fn App() -> Html {
    let state = use_reducer(|| AppState::opening(hooks::channel_in_url()));
    let dispatch = state.dispatcher();
    // One callback for the app's lifetime, so the context changes only when
    // who is logged in does.
    let act = (*use_memo((), {
        let dispatch = dispatch.clone();
        move |()| dispatch.to_callback()
    }))
    .clone();
    let ids = use_mut_ref(ClientIdGen::random);
    hooks::use_session_check(&dispatch);
    hooks::use_connection(&state);
    hooks::use_network(&dispatch);
    hooks::use_page_focus(&dispatch);
    hooks::use_typing_clock(&state);
    hooks::use_reconnect(&state);
    hooks::use_location_and_title(&state);

    match &state.session {
        Session::Checking => loading_card(),
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
            let on_edit = act.reform(|()| Action::AuthEdited);
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
            let context = AppContext {
                me: Some(me.clone()),
                act: act.clone(),
            };
            html! {
                <ContextProvider<AppContext> {context}>
                    { signed_in(&state, &dispatch, &act, &ids) }
                </ContextProvider<AppContext>>
            }
        }
    }
}

/// The app once someone is logged in: sidebar, top bar, the chat or the
/// directory, and the connection's footer.
fn signed_in(
    state: &AppState,
    dispatch: &UseReducerDispatcher<AppState>,
    act: &Callback<Action>,
    ids: &Rc<RefCell<ClientIdGen>>,
) -> Html {
    let on_dismiss = act.reform(|()| Action::DismissError);
    let banner = html! {
        <>
            if state.offline { { offline_banner() } }
            <ErrorBanner notice={state.error.clone()} {on_dismiss} />
        </>
    };
    // The footer about the connection: only once someone is logged in. Before
    // that there is no connection to speak of, and "closed" would read as an error.
    let status = {
        let conn = state.conn_id;
        let on_retry_now = act.reform(move |()| Action::Reconnect { conn });
        html! {
            <StatusBar
                conn={state.conn.clone()}
                offline={state.offline}
                transport={state.transport}
                reconnect_at={state.reconnect_at.filter(|_| state.can_reconnect())}
                pending={state.pending_count()}
                received={state.received}
                {on_retry_now}
            />
        }
    };
    let main = match (state.view, state.active_chat()) {
        (View::Directory, _) => directory(state),
        (View::Chat, Some(chat)) => chat_view(state, dispatch, act, ids, chat),
        (View::Chat, None) if state.ready => no_room(act),
        (View::Chat, None) => connecting(&state.conn),
    };
    let shown = state.active_chat().filter(|_| state.view == View::Chat);
    let title = match shown.map(|c| (&c.channel, c)) {
        Some((Channel::Room(room), chat)) => html! {
            <>
                <h1 class="title"><span class="hash" aria-hidden="true">{ "#" }</span>{ room.as_str() }</h1>
                <OnlineUsers users={chat.online.clone()} total={chat.online_total} />
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
            let onclick = act.reform(move |_: MouseEvent| Action::LeaveRoom(room.clone()));
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
    let open_menu = act.reform(|_: MouseEvent| Action::SetSidebar(true));
    let close_backdrop = act.reform(|_: MouseEvent| Action::SetSidebar(false));
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
        <div class={classes!("app", "shell", state.sidebar_open.then_some("menu-open"), state.offline.then_some("offline"))}>
            <Sidebar
                rooms={state.rooms.iter().filter_map(room_entry).collect::<Vec<_>>()}
                dms={state.dms.iter().filter_map(dm_entry).collect::<Vec<_>>()}
                active={state.active.clone()}
                directory_open={state.view == View::Directory}
                open={state.sidebar_open}
                conn_state={state.conn.as_str()}
                logging_out={state.logging_out}
                new_dm_error={state.new_dm.error.clone()}
                new_dm_busy={state.new_dm.opening.is_some()}
                {on_logout}
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

fn chat_view(
    state: &AppState,
    dispatch: &UseReducerDispatcher<AppState>,
    act: &Callback<Action>,
    ids: &Rc<RefCell<ClientIdGen>>,
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
        act.reform(move |()| Action::Typed {
            channel: channel.clone(),
            now_ms: now_ms(),
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
        .map(|room| polls_panel(state, room, chat));
    html! {
        <>
            { for polls }
            <MessageList
                key={channel.to_string()}
                channel={channel.clone()}
                messages={chat.messages.clone()}
                pending={chat.pending.clone()}
                loaded={chat.loaded}
                loading={chat.loading}
                has_more={chat.has_more}
                divider={chat.divider}
                last_read={chat.last_read}
                reading={state.focused && state.ready}
            />
            <TypingIndicator names={typing} />
            <Composer key={channel.to_string()} {on_send} {on_typing} {placeholder} />
        </>
    }
}

fn polls_panel(state: &AppState, room: &RoomName, chat: &Chat) -> Html {
    let form = &state.new_poll;
    html! {
        <PollsPanel
            key={room.to_string()}
            room={room.clone()}
            polls={chat.polls.clone()}
            loading={chat.polls_loading}
            form_open={form.open}
            form_busy={form.creating.is_some()}
            form_error={form.error.clone()}
        />
    }
}

fn directory(state: &AppState) -> Html {
    let dir = &state.directory;
    html! {
        <Directory
            rooms={dir.rooms.clone()}
            loading={dir.loading}
            create_error={dir.create_error.clone()}
            creating={dir.creating.is_some()}
            joining={dir.joining.clone()}
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

fn no_room(act: &Callback<Action>) -> Html {
    let onclick = act.reform(|_: MouseEvent| Action::OpenDirectory);
    html! {
        <div class="empty-state">
            <p class="empty-title">{ "You are not in any room" }</p>
            <p>{ "Join a room or create one to start chatting." }</p>
            <button type="button" class="primary" {onclick}>{ "Browse rooms" }</button>
        </div>
    }
}
