//! The room directory: every room with its member count, a join button for the
//! ones the user is not in, and the form to create a room.

use parley_common::{CharName, RoomInfo, RoomName, ValidationError};
use web_sys::{HtmlInputElement, InputEvent, MouseEvent};

use crate::ui::{Callback, Html, Node, classes, h, use_node_ref, use_state, when};

#[derive(Clone, PartialEq)]
pub struct DirectoryProps {
    /// `None` until the first list arrived.
    pub rooms: Option<Vec<RoomInfo>>,
    /// A fresh list is on its way.
    pub loading: bool,
    /// Why the last create request failed (from the server).
    pub create_error: Option<String>,
    /// A create request is on its way.
    pub creating: bool,
    /// The room a join request is on its way for.
    pub joining: Option<RoomName>,
    pub on_join: Callback<RoomName>,
    /// Show a room the user is in already.
    pub on_open: Callback<RoomName>,
    pub on_create: Callback<RoomName>,
    /// The create input changed (hides the server's error).
    pub on_create_edit: Callback<()>,
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

pub fn directory(props: &DirectoryProps) -> Html {
    let input = use_node_ref();
    let local_error = use_state(|| None::<String>);

    let onsubmit = {
        let input = input.clone();
        let local_error = local_error.clone();
        let on_create = props.on_create.clone();
        let creating = props.creating;
        Callback::from(move |()| {
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
        let on_edit = props.on_create_edit.clone();
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

    h("section")
        .id("directory")
        .class("directory")
        .attr("aria-labelledby", "directory-title")
        .child(
            h("div")
                .class("directory-inner")
                .child(
                    h("h2")
                        .id("directory-title")
                        .class("visually-hidden")
                        .text("Browse or create rooms"),
                )
                .child(
                    h("form")
                        .id("create-room-form")
                        .class("card create-room")
                        .onsubmit(onsubmit)
                        .flag("novalidate", true)
                        .child(
                            h("label")
                                .attr("for", "create-room-name")
                                .text("Create a room"),
                        )
                        .child(
                            h("div")
                                .class("create-row")
                                .child(
                                    h("div")
                                        .class(classes(&["prefixed", when(invalid, "invalid")]))
                                        .child(
                                            h("span")
                                                .class("prefix")
                                                .attr("aria-hidden", "true")
                                                .text("#"),
                                        )
                                        .child(
                                            h("input")
                                                .id("create-room-name")
                                                .node_ref(&input)
                                                .attr("type", "text")
                                                .attr("name", "room")
                                                .attr("placeholder", "e.g. rust-users")
                                                .attr("autocomplete", "off")
                                                .attr("autocapitalize", "none")
                                                .attr("spellcheck", "false")
                                                .attr("maxlength", "64")
                                                .attr("aria-invalid", invalid.to_string())
                                                .attr(
                                                    "aria-describedby",
                                                    if invalid {
                                                        "create-room-error"
                                                    } else {
                                                        "create-room-hint"
                                                    },
                                                )
                                                .oninput(oninput),
                                        ),
                                )
                                .child(
                                    h("button")
                                        .attr("type", "submit")
                                        .id("create-room-submit")
                                        .class("primary")
                                        .flag("disabled", props.creating)
                                        .text(if props.creating {
                                            "Creating…"
                                        } else {
                                            "Create"
                                        }),
                                ),
                        )
                        .child(if let Some(message) = error {
                            h("p")
                                .class("field-error")
                                .id("create-room-error")
                                .attr("role", "alert")
                                .text(message)
                        } else {
                            h("p").class("hint").id("create-room-hint").text(
                                "Up to 32 lower-case letters, digits, - and _. You join the room you create.",
                            )
                        }),
                )
                .child(
                    h("div")
                        .class("directory-head")
                        .child(h("h3").text("All rooms"))
                        .child(
                            props
                                .rooms
                                .is_some()
                                .then(|| h("span").class("count").text(rooms.len().to_string())),
                        )
                        .child(props.loading.then(|| {
                            h("span")
                                .class("spinner small")
                                .attr("role", "status")
                                .attr("aria-label", "Loading rooms")
                        })),
                )
                .child(if props.rooms.is_none() && !props.loading {
                    h("p")
                        .class("muted")
                        .text("The list of rooms could not be loaded (offline).")
                        .into()
                } else if props.rooms.is_some() && rooms.is_empty() {
                    h("p")
                        .class("muted")
                        .text("No rooms yet. Create the first one above.")
                        .into()
                } else {
                    Node::Empty
                })
                .child(
                    h("ul")
                        .class("directory-list")
                        .kids(rooms.iter().map(|info| entry(info, props))),
                ),
        )
        .into()
}

fn entry(info: &RoomInfo, props: &DirectoryProps) -> Html {
    let members = match info.members {
        1 => "1 member".to_owned(),
        n => format!("{n} members"),
    };
    let room = info.room.clone();
    let action = if info.joined {
        let open = props.on_open.reform(move |_: MouseEvent| room.clone());
        Node::List(vec![
            h("span").class("badge").text("Joined").into(),
            h("button")
                .attr("type", "button")
                .class("small open")
                .onclick(open)
                .attr("aria-label", format!("Open #{}", info.room))
                .text("Open")
                .into(),
        ])
    } else {
        let busy = props.joining.as_ref() == Some(&info.room);
        let join = props.on_join.reform(move |_: MouseEvent| room.clone());
        h("button")
            .attr("type", "button")
            .class("small join")
            .onclick(join)
            .flag("disabled", busy)
            .attr("aria-label", format!("Join #{}", info.room))
            .text(if busy { "Joining…" } else { "Join" })
            .into()
    };
    h("li")
        .key(info.room.to_string())
        .class(classes(&["directory-room", when(info.joined, "joined")]))
        .attr("data-room", info.room.to_string())
        .child(
            h("span")
                .class("room-badge small")
                .attr("aria-hidden", "true")
                .text("#"),
        )
        .child(
            h("span")
                .class("directory-info")
                .child(h("span").class("room-name").text(info.room.to_string()))
                .child(h("span").class("members").text(members)),
        )
        .child(action)
        .into()
}
