//! The room directory: every room with its member count, a join button for the
//! ones the user is not in, and the form to create a room.

use parley_common::{Channel, CharName, RoomInfo, RoomName, ValidationError};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::context::use_app;
use crate::state::Action;

#[derive(Properties, PartialEq)]
pub struct DirectoryProps {
    /// `None` until the first list arrived.
    pub rooms: Option<Vec<RoomInfo>>,
    /// A fresh list is on its way.
    #[prop_or_default]
    pub loading: bool,
    /// Why the last create request failed (from the server).
    #[prop_or_default]
    pub create_error: Option<String>,
    /// A create request is on its way.
    #[prop_or_default]
    pub creating: bool,
    /// The room a join request is on its way for.
    #[prop_or_default]
    pub joining: Option<RoomName>,
}

/// What to say about a room name the rules refuse.
pub fn room_name_error_text(err: &ValidationError) -> String {
    match err {
        ValidationError::Empty => "Enter a name for the room.".into(),
        ValidationError::TooLong { max } => format!("A room name has at most {max} characters."),
        ValidationError::TooShort { min } => format!("A room name has at least {min} characters."),
        ValidationError::ControlCharacter => {
            "A room name cannot contain control characters.".into()
        }
        ValidationError::InvalidCharacter('-' | '_') => {
            "A room name starts with a letter or a digit.".into()
        }
        ValidationError::InvalidCharacter(c) => {
            format!("Use letters, digits, - and _ only (not {}).", CharName(*c))
        }
    }
}

/// Every room, to join or open, and the form that creates one. What the user
/// does becomes an [`Action`] for the app (through
/// [`AppContext`](crate::context::AppContext)): `JoinRoom`, `Select`,
/// `CreateRoom`, and `CreateEdited` when the name changes.
#[component]
pub fn Directory(props: &DirectoryProps) -> Html {
    let app = use_app();
    let input = use_node_ref();
    let local_error = use_state(|| None::<String>);

    let onsubmit = {
        let input = input.clone();
        let local_error = local_error.clone();
        let on_create = app.act.reform(Action::CreateRoom);
        let creating = props.creating;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if creating {
                return;
            }
            let Some(el) = input.cast::<HtmlInputElement>() else {
                return;
            };
            match crate::lower::room_name(&el.value()) {
                Ok(room) => {
                    local_error.set(None);
                    on_create.emit(room);
                }
                Err(err) => {
                    local_error.set(Some(room_name_error_text(&err)));
                    let _ = el.focus();
                }
            }
        })
    };
    let oninput = {
        let local_error = local_error.clone();
        let on_edit = app.act.reform(|()| Action::CreateEdited);
        Callback::from(move |_: InputEvent| {
            if local_error.is_some() {
                local_error.set(None);
            }
            on_edit.emit(());
        })
    };

    let error = (*local_error)
        .clone()
        .or_else(|| props.create_error.clone());
    let invalid = error.is_some();
    let rooms = props.rooms.as_deref().unwrap_or_default();

    html! {
        <section id="directory" class="directory" aria-labelledby="directory-title">
            <div class="directory-inner">
                <h2 id="directory-title" class="visually-hidden">{ "Browse or create rooms" }</h2>
                <form id="create-room-form" class="card create-room" {onsubmit} novalidate=true>
                    <label for="create-room-name">{ "Create a room" }</label>
                    <div class="create-row">
                        <div class={classes!("prefixed", invalid.then_some("invalid"))}>
                            <span class="prefix" aria-hidden="true">{ "#" }</span>
                            <input
                                id="create-room-name"
                                ref={input}
                                type="text"
                                name="room"
                                placeholder="e.g. rust-users"
                                autocomplete="off"
                                autocapitalize="none"
                                spellcheck="false"
                                maxlength="64"
                                aria-invalid={invalid.to_string()}
                                aria-describedby={if invalid { "create-room-error" } else { "create-room-hint" }}
                                {oninput}
                            />
                        </div>
                        <button type="submit" id="create-room-submit" class="primary" disabled={props.creating}>
                            { if props.creating { "Creating…" } else { "Create" } }
                        </button>
                    </div>
                    if let Some(message) = error {
                        <p class="field-error" id="create-room-error" role="alert">{ message }</p>
                    } else {
                        <p class="hint" id="create-room-hint">
                            { "Up to 32 lower-case letters, digits, - and _. You join the room you create." }
                        </p>
                    }
                </form>

                <div class="directory-head">
                    <h3>{ "All rooms" }</h3>
                    if props.rooms.is_some() {
                        <span class="count">{ rooms.len() }</span>
                    }
                    if props.loading {
                        <span class="spinner small" role="status" aria-label="Loading rooms"></span>
                    }
                </div>
                if props.rooms.is_none() && !props.loading {
                    <p class="muted">{ "The list of rooms could not be loaded (offline)." }</p>
                } else if props.rooms.is_some() && rooms.is_empty() {
                    <p class="muted">{ "No rooms yet. Create the first one above." }</p>
                }
                <ul class="directory-list">
                    { for rooms.iter().map(|info| entry(info, props, &app.act)) }
                </ul>
            </div>
        </section>
    }
}

fn entry(info: &RoomInfo, props: &DirectoryProps, act: &Callback<Action>) -> Html {
    let members = match info.members {
        1 => "1 member".to_owned(),
        n => format!("{n} members"),
    };
    let room = info.room.clone();
    let action = if info.joined {
        let open = act.reform(move |_: MouseEvent| Action::Select(Channel::Room(room.clone())));
        html! {
            <>
                <span class="badge">{ "Joined" }</span>
                <button type="button" class="small open" onclick={open} aria-label={format!("Open #{}", info.room)}>
                    { "Open" }
                </button>
            </>
        }
    } else {
        let busy = props.joining.as_ref() == Some(&info.room);
        let join = act.reform(move |_: MouseEvent| Action::JoinRoom(room.clone()));
        html! {
            <button type="button" class="small join" onclick={join} disabled={busy} aria-label={format!("Join #{}", info.room)}>
                { if busy { "Joining…" } else { "Join" } }
            </button>
        }
    };
    html! {
        <li key={info.room.as_str()} class={classes!("directory-room", info.joined.then_some("joined"))} data-room={info.room.to_string()}>
            <span class="room-badge small" aria-hidden="true">{ "#" }</span>
            <span class="directory-info">
                <span class="room-name">{ info.room.as_str() }</span>
                <span class="members">{ members }</span>
            </span>
            { action }
        </li>
    }
}
