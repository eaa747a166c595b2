//! The root component: owns the state, runs the connection effect and lays out the
//! screens.

use parley_common::{ClientMsg, ClientMsgId, MessageBody, RoomName, Username};
use yew::prelude::*;

use crate::components::{Composer, ErrorBanner, MessageList, NamePrompt, StatusBar};
use crate::connection::{self, Connection};
use crate::ids::ClientIdGen;
use crate::state::{Action, AppState, ConnState, Phase};

#[component]
pub fn App() -> Html {
    let state = use_reducer(AppState::default);
    // The running connection, if any. Written only by the effect below.
    let connection = use_mut_ref(|| None::<Connection>);
    let ids = use_mut_ref(ClientIdGen::random);

    // The one place a WebSocket is opened: whenever the reducer asks for a new
    // connection (a new `conn_id`). The teardown drops the handle, which closes it.
    {
        let connection = connection.clone();
        let dispatch = state.dispatcher();
        let name = state.name.clone();
        let unsent = state.unsent();
        use_effect_with(state.conn_id, move |&conn| {
            if let Some(name) = name.filter(|_| conn != 0) {
                *connection.borrow_mut() = Some(connection::spawn(conn, name, unsent, dispatch));
            }
            move || drop(connection.borrow_mut().take())
        });
    }

    let dispatch = state.dispatcher();
    let on_name = dispatch.to_callback().reform(Action::SetName);
    let on_reconnect = dispatch.to_callback().reform(|()| Action::Reconnect);
    let on_dismiss = dispatch.to_callback().reform(|()| Action::DismissError);
    let on_discard = dispatch.to_callback().reform(Action::DiscardFailed);
    let on_send = Callback::from(move |body: MessageBody| {
        let Some(client_id) = ids.borrow_mut().next_id() else {
            return dispatch.dispatch(Action::ShowError("Could not number the message.".into()));
        };
        send_chat(&dispatch, &connection.borrow(), client_id, body);
    });

    let banner = html! { <ErrorBanner notice={state.error.clone()} {on_dismiss} /> };
    let status = html! {
        <StatusBar
            conn={state.conn.clone()}
            pending={state.pending_count()}
            received={state.received}
            {on_reconnect}
        />
    };
    match state.phase {
        Phase::NamePrompt => html! {
            <div class="app">
                { banner }
                <NamePrompt on_submit={on_name} />
                { status }
            </div>
        },
        Phase::Chatting => html! {
            <div class="app chat">
                <Header name={state.name.clone()} conn={state.conn.clone()} />
                { banner }
                <MessageList
                    messages={state.messages.clone()}
                    pending={state.pending.clone()}
                    me={state.name.clone()}
                    {on_discard}
                />
                <Composer {on_send} placeholder={placeholder(&state.conn)} />
                { status }
            </div>
        },
    }
}

/// Marks the message pending, then hands it to the connection. If there is none
/// (closed), it stays pending and goes out on reconnect.
fn send_chat(
    dispatch: &UseReducerDispatcher<AppState>,
    connection: &Option<Connection>,
    client_id: ClientMsgId,
    body: MessageBody,
) {
    dispatch.dispatch(Action::Queue {
        client_id: client_id.clone(),
        body: body.clone(),
    });
    if let Some(connection) = connection {
        connection.send(ClientMsg::Send {
            room: RoomName::lobby(),
            client_id,
            body,
        });
    }
}

fn placeholder(conn: &ConnState) -> AttrValue {
    match conn {
        ConnState::Open => "Message #lobby".into(),
        ConnState::Connecting => "Connecting… you can type already".into(),
        ConnState::Idle | ConnState::Closing | ConnState::Closed { .. } => {
            "Offline: sent when you reconnect".into()
        }
    }
}

#[derive(Properties, PartialEq)]
struct HeaderProps {
    name: Option<Username>,
    conn: ConnState,
}

#[component]
fn Header(props: &HeaderProps) -> Html {
    let initial = props
        .name
        .as_ref()
        .and_then(|n| n.as_str().chars().next())
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    html! {
        <header class="topbar">
            <div class="brand">
                <span class="logo small" aria-hidden="true">{ "P" }</span>
                <span class="brand-name">{ "Parley" }</span>
            </div>
            <div class="room">
                <span class="hash" aria-hidden="true">{ "#" }</span>
                <span class="room-name">{ parley_common::LOBBY }</span>
            </div>
            if let Some(name) = &props.name {
                <div class={classes!("me", format!("me-{}", props.conn.as_str()))} title={format!("Signed in as {name}")}>
                    <span class="avatar" aria-hidden="true">{ initial }</span>
                    <span class="me-name">{ name.as_str() }</span>
                </div>
            }
        </header>
    }
}
