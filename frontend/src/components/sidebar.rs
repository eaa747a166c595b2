//! The sidebar: the user's rooms and private conversations (with unread badges
//! and who is online), the way to the directory, the form that starts a
//! conversation, the link to the transport lab, who is logged in and the
//! log-out button. At phone width it is a drawer behind the menu button.

use parley_common::{Channel, RoomName, Username, ValidationError};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, InputEvent, KeyboardEvent, MouseEvent};

use super::{icon, stroke_path};
use crate::auth::name_error_text;
use crate::components::{hue, initial};
use crate::ui::{
    AttrValue, Callback, El, Html, Node, classes, comp, h, use_effect_with, use_mut_ref,
    use_node_ref, use_state, when,
};

/// A room as the sidebar lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    pub name: RoomName,
    pub unread: u64,
}

/// A private conversation as the sidebar lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmEntry {
    pub with: Username,
    pub unread: u64,
    /// The other user is online.
    pub online: bool,
}

#[derive(Clone, PartialEq)]
pub struct SidebarProps {
    pub me: Username,
    /// The user's rooms, in display order.
    pub rooms: Vec<RoomEntry>,
    /// The user's conversations, in display order (most recent first).
    pub dms: Vec<DmEntry>,
    /// The room or conversation shown (highlighted unless the directory is open).
    pub active: Option<Channel>,
    /// The directory is shown in the main panel.
    pub directory_open: bool,
    /// The drawer is open (phone layout; ignored on wide screens).
    pub open: bool,
    /// The connection's `data-state` word, for the presence dot.
    pub conn_state: AttrValue,
    /// A log-out request is on its way.
    pub logging_out: bool,
    /// Why the last new-conversation request failed (from the server).
    pub new_dm_error: Option<String>,
    /// A new-conversation request is on its way.
    pub new_dm_busy: bool,
    pub on_select: Callback<Channel>,
    /// Start (or open) the conversation with a user; never the user themself.
    pub on_new_dm: Callback<Username>,
    /// The new-conversation input changed (hides the server's error).
    pub on_new_dm_edit: Callback<()>,
    pub on_open_directory: Callback<()>,
    pub on_logout: Callback<()>,
    /// Close the drawer (Escape, or its close button).
    pub on_close: Callback<()>,
}

pub fn sidebar(props: &SidebarProps) -> Html {
    let nav = use_node_ref();

    // Opening the drawer moves the focus into it, on the room shown; closing it
    // gives the focus back to the menu button (rather than to a hidden element).
    {
        let nav = nav.clone();
        let was_open = use_mut_ref(|| false);
        use_effect_with(props.open, move |&open| {
            let closed = std::mem::replace(&mut *was_open.borrow_mut(), open) && !open;
            let Some(nav) = nav.cast::<Element>() else {
                return;
            };
            let target = if open {
                nav.query_selector("li.active > button")
                    .ok()
                    .flatten()
                    .or_else(|| nav.query_selector("button.room-link").ok().flatten())
            } else if closed {
                let document = web_sys::window().and_then(|w| w.document());
                let focus_inside = document
                    .as_ref()
                    .and_then(|d| d.active_element())
                    .is_none_or(|el| nav.contains(Some(&el)) || el.tag_name() == "BODY");
                document
                    .filter(|_| focus_inside)
                    .and_then(|d| d.get_element_by_id("menu-toggle"))
            } else {
                None
            };
            if let Some(el) = target.and_then(|t| t.dyn_into::<HtmlElement>().ok()) {
                let _ = el.focus();
            }
        });
    }

    let onkeydown = {
        let on_close = props.on_close.clone();
        let open = props.open;
        Callback::from(move |e: KeyboardEvent| {
            if open && e.key() == "Escape" {
                on_close.emit(());
            }
        })
    };
    let is_active = |channel: &Channel| {
        !props.directory_open
            && props
                .active
                .as_ref()
                .is_some_and(|a| crate::state::same_channel(a, channel))
    };
    let rooms = props.rooms.iter().map(|entry| {
        let channel = Channel::Room(entry.name.clone());
        let active = is_active(&channel);
        let select = props.on_select.reform(move |_: MouseEvent| channel.clone());
        let room = &entry.name;
        Node::from(
            h("li")
                .key(room.to_string())
                .class(classes(&[
                    "room",
                    when(active, "active"),
                    when(entry.unread > 0, "unread"),
                ]))
                .attr("data-room", room.to_string())
                .child(
                    chat_button(select, active)
                        .attr(
                            "aria-label",
                            unread_label(&format!("#{room}"), entry.unread),
                        )
                        .child(
                            h("span")
                                .class("hash")
                                .attr("aria-hidden", "true")
                                .text("#"),
                        )
                        .child(h("span").class("room-name").text(room.to_string()))
                        .child(badge(entry.unread)),
                ),
        )
    });
    let dms = props.dms.iter().map(|entry| {
        let channel = Channel::Dm(entry.with.clone());
        let active = is_active(&channel);
        let select = props.on_select.reform(move |_: MouseEvent| channel.clone());
        let with = &entry.with;
        let presence = if entry.online { "online" } else { "offline" };
        Node::from(
            h("li")
                .key(with.key())
                .class(classes(&[
                    "dm",
                    when(active, "active"),
                    when(entry.online, "online"),
                    when(entry.unread > 0, "unread"),
                ]))
                .attr("data-user", with.to_string())
                .child(
                    chat_button(select, active)
                        .attr(
                            "aria-label",
                            unread_label(&format!("{with}, {presence}"), entry.unread),
                        )
                        .child(
                            h("span")
                                .class("avatar small")
                                .attr("style", format!("--hue:{}", hue(with)))
                                .attr("title", presence)
                                .attr("aria-hidden", "true")
                                .text(initial(with)),
                        )
                        .child(h("span").class("room-name").text(with.to_string()))
                        .child(badge(entry.unread)),
                ),
        )
    });
    let open_directory = props.on_open_directory.reform(|_: MouseEvent| ());
    let logout = props.on_logout.reform(|_: MouseEvent| ());
    let close = props.on_close.reform(|_: MouseEvent| ());
    let initial = props
        .me
        .as_str()
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_default();

    h("nav")
        .id("sidebar")
        .node_ref(&nav)
        .class(classes(&["sidebar", when(props.open, "open")]))
        .attr("aria-label", "Rooms")
        .on("keydown", onkeydown)
        .child(
            h("div")
                .class("sidebar-head")
                .child(
                    h("span")
                        .class("logo small")
                        .attr("aria-hidden", "true")
                        .text("P"),
                )
                .child(h("span").class("brand-name").text("Parley"))
                .child(
                    h("button")
                        .attr("type", "button")
                        .class("icon-button sidebar-close")
                        .attr("aria-label", "Close the menu")
                        .attr("title", "Close")
                        .onclick(close)
                        .child(
                            icon("0 0 16 16", "16").child(stroke_path("M3 3l10 10M13 3L3 13", "2")),
                        ),
                ),
        )
        .child(
            h("h2")
                .class("sidebar-title")
                .id("my-rooms-title")
                .text("Your rooms"),
        )
        .child(props.rooms.is_empty().then(|| {
            h("p")
                .class("sidebar-empty")
                .text("You are in no room yet.")
        }))
        .child(
            h("ul")
                .id("my-rooms")
                .attr("aria-labelledby", "my-rooms-title")
                .kids(rooms),
        )
        .child(
            h("button")
                .attr("type", "button")
                .id("open-directory")
                .class(classes(&[
                    "sidebar-action",
                    when(props.directory_open, "active"),
                ]))
                .attr_opt("aria-current", props.directory_open.then_some("page"))
                .onclick(open_directory)
                .child(icon("0 0 20 20", "18").child(stroke_path("M10 4v12M4 10h12", "2")))
                .text("Browse or create rooms"),
        )
        .child(
            h("h2")
                .class("sidebar-title dm-title")
                .id("my-dms-title")
                .text("Direct messages"),
        )
        .child(
            props
                .dms
                .is_empty()
                .then(|| h("p").class("sidebar-empty").text("No conversations yet.")),
        )
        .child(
            h("ul")
                .id("my-dms")
                .attr("aria-labelledby", "my-dms-title")
                .kids(dms),
        )
        .child(comp(
            new_dm_form,
            NewDmFormProps {
                me: props.me.clone(),
                error: props.new_dm_error.clone(),
                busy: props.new_dm_busy,
                on_submit: props.on_new_dm.clone(),
                on_edit: props.on_new_dm_edit.clone(),
            },
        ))
        // The lab is a page of its own, so that the chat's download does not carry it.
        .child(
            h("a")
                .attr("href", crate::lab::PATH)
                .id("open-lab")
                .class("sidebar-link")
                .child(
                    icon("0 0 20 20", "16").child(
                        stroke_path("M2 10h3l2-5 3 10 3-7 2 2h3", "1.8")
                            .attr("fill", "none")
                            .attr("stroke-linejoin", "round"),
                    ),
                )
                .text("Transport lab"),
        )
        .child(
            h("div")
                .class("sidebar-foot")
                .child(
                    h("span")
                        .class(classes(&[
                            "avatar",
                            &format!("presence-{}", props.conn_state),
                        ]))
                        .attr("aria-hidden", "true")
                        .text(initial),
                )
                .child(
                    h("span")
                        .class("me-name")
                        .attr("title", format!("Logged in as {}", props.me))
                        .text(props.me.to_string()),
                )
                .child(
                    h("button")
                        .attr("type", "button")
                        .id("logout")
                        .class("small")
                        .onclick(logout)
                        .flag("disabled", props.logging_out)
                        .text(if props.logging_out {
                            "Logging out…"
                        } else {
                            "Log out"
                        }),
                ),
        )
        .into()
}

/// The unread count, as a badge (nothing when 0).
fn badge(unread: u64) -> Html {
    if unread == 0 {
        return Node::Empty;
    }
    let text = if unread > 99 {
        "99+".to_owned()
    } else {
        unread.to_string()
    };
    h("span")
        .class("unread-badge")
        .attr("aria-hidden", "true")
        .text(text)
        .into()
}

/// The button that opens a room or conversation in the list (`aria-current`
/// on the one shown).
fn chat_button(select: Callback<MouseEvent>, active: bool) -> Box<El> {
    h("button")
        .attr("type", "button")
        .class("room-link")
        .onclick(select)
        .attr_opt("aria-current", active.then_some("page"))
}

/// What a screen reader says for an entry: its name, and how many are unread.
fn unread_label(name: &str, unread: u64) -> String {
    match unread {
        0 => name.to_owned(),
        1 => format!("{name}, 1 unread message"),
        n => format!("{name}, {n} unread messages"),
    }
}

/// Whom the new-conversation form means, with the server's rules for user names
/// (a leading `@` is allowed); never the user themself.
pub fn new_dm_target(input: &str, me: &Username) -> Result<Username, String> {
    let name = input.trim();
    let name = name.strip_prefix('@').unwrap_or(name);
    let user = Username::parse(name).map_err(|err| match err {
        ValidationError::Empty => "Enter the user name of the person to write to.".to_owned(),
        other => name_error_text(&other),
    })?;
    if crate::state::same_user(&user, me) {
        return Err("That is you: pick someone else.".into());
    }
    Ok(user)
}

#[derive(Clone, PartialEq)]
struct NewDmFormProps {
    me: Username,
    error: Option<String>,
    busy: bool,
    on_submit: Callback<Username>,
    on_edit: Callback<()>,
}

/// "Message someone": a user name, checked here before the server is asked.
fn new_dm_form(props: &NewDmFormProps) -> Html {
    let input = use_node_ref();
    let local_error = use_state(|| None::<String>);
    let onsubmit = {
        let input = input.clone();
        let local_error = local_error.clone();
        let me = props.me.clone();
        let on_submit = props.on_submit.clone();
        let busy = props.busy;
        Callback::from(move |()| {
            let Some(el) = input.cast::<HtmlInputElement>() else {
                return;
            };
            if busy {
                return;
            }
            match new_dm_target(&el.value(), &me) {
                Ok(user) => {
                    local_error.set(None);
                    el.set_value("");
                    on_submit.emit(user);
                }
                Err(text) => {
                    local_error.set(Some(text));
                    let _ = el.focus();
                }
            }
        })
    };
    let oninput = {
        let local_error = local_error.clone();
        let on_edit = props.on_edit.clone();
        Callback::from(move |_: InputEvent| {
            if local_error.is_some() {
                local_error.set(None);
            }
            on_edit.emit(());
        })
    };
    let error = (*local_error).clone().or_else(|| props.error.clone());
    h("form")
        .id("new-dm-form")
        .class("new-dm")
        .onsubmit(onsubmit)
        .flag("novalidate", true)
        .attr("aria-busy", props.busy.to_string())
        .child(
            h("label")
                .attr("for", "new-dm-name")
                .class("visually-hidden")
                .text("Start a conversation with (user name)"),
        )
        .child(
            h("div")
                .class("new-dm-row")
                .child(
                    h("input")
                        .id("new-dm-name")
                        .node_ref(&input)
                        .attr("type", "text")
                        .attr("placeholder", "Message someone…")
                        .attr("autocomplete", "off")
                        .attr("autocapitalize", "none")
                        .attr("spellcheck", "false")
                        .attr("aria-invalid", error.is_some().to_string())
                        .attr_opt(
                            "aria-describedby",
                            error.is_some().then_some("new-dm-error"),
                        )
                        .oninput(oninput),
                )
                .child(
                    h("button")
                        .attr("type", "submit")
                        .id("new-dm-submit")
                        .class("icon-button")
                        .flag("disabled", props.busy)
                        .attr("aria-label", "Start the conversation")
                        .attr("title", "Start the conversation")
                        .child(if props.busy {
                            h("span").class("spinner small").attr("aria-hidden", "true")
                        } else {
                            icon("0 0 20 20", "18").child(
                                stroke_path("M4 10h11M11 5l5 5-5 5", "2")
                                    .attr("fill", "none")
                                    .attr("stroke-linejoin", "round"),
                            )
                        }),
                ),
        )
        .child(error.map(|text| {
            h("p")
                .class("field-error")
                .id("new-dm-error")
                .attr("role", "alert")
                .text(text)
        }))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_conversation_names_are_checked_like_the_server_does() {
        let me = Username::parse("Alice").unwrap();
        assert_eq!(new_dm_target("  Bob ", &me).unwrap().as_str(), "Bob");
        assert_eq!(new_dm_target("@bob", &me).unwrap().as_str(), "bob");
        assert!(new_dm_target("", &me).unwrap_err().contains("user name"));
        assert!(new_dm_target("b", &me).unwrap_err().contains("at least"));
        assert!(
            new_dm_target("bo b", &me)
                .unwrap_err()
                .contains("(not a space)")
        );
        assert_eq!(
            new_dm_target("alice", &me).unwrap_err(),
            "That is you: pick someone else."
        );
    }
}
