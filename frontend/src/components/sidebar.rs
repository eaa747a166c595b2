//! The sidebar: the user's rooms and private conversations (with unread badges
//! and who is online), the way to the directory, the form that starts a
//! conversation, the link to the transport lab, who is logged in and the
//! log-out button. At phone width it is a drawer behind the menu button.

use parley_common::{Channel, RoomName, Username, ValidationError};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement};
use yew::prelude::*;

use crate::auth::name_error_text;
use crate::components::{hue, initial};
use crate::context::use_app;
use crate::state::Action;

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

#[derive(Properties, PartialEq)]
pub struct SidebarProps {
    /// The user's rooms, in display order.
    pub rooms: Vec<RoomEntry>,
    /// The user's conversations, in display order (most recent first).
    #[prop_or_default]
    pub dms: Vec<DmEntry>,
    /// The room or conversation shown (highlighted unless the directory is open).
    #[prop_or_default]
    pub active: Option<Channel>,
    /// The directory is shown in the main panel.
    #[prop_or_default]
    pub directory_open: bool,
    /// The drawer is open (phone layout; ignored on wide screens).
    #[prop_or_default]
    pub open: bool,
    /// The connection's `data-state` word, for the presence dot.
    #[prop_or(AttrValue::Static("open"))]
    pub conn_state: AttrValue,
    /// A log-out request is on its way.
    #[prop_or_default]
    pub logging_out: bool,
    /// Why the last new-conversation request failed (from the server).
    #[prop_or_default]
    pub new_dm_error: Option<String>,
    /// A new-conversation request is on its way.
    #[prop_or_default]
    pub new_dm_busy: bool,
    /// Log out (an HTTP request the app makes).
    pub on_logout: Callback<()>,
}

/// Who is logged in comes from [`AppContext`](crate::context::AppContext);
/// what the user does here becomes an [`Action`] for the app: open a chat
/// (`Select`), the directory (`OpenDirectory`), a conversation (`OpenDm`),
/// close the drawer (`SetSidebar`).
#[component]
pub fn Sidebar(props: &SidebarProps) -> Html {
    let app = use_app();
    let nav = use_node_ref();
    let on_close = app.act.reform(|()| Action::SetSidebar(false));

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
        let on_close = on_close.clone();
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
        let select = app
            .act
            .reform(move |_: MouseEvent| Action::Select(channel.clone()));
        let room = &entry.name;
        html! {
            <li key={room.as_str()} class={classes!("room", active.then_some("active"), (entry.unread > 0).then_some("unread"))} data-room={room.to_string()}>
                <button type="button" class="room-link" onclick={select} aria-current={active.then_some("page")}
                    aria-label={unread_label(&format!("#{room}"), entry.unread)}>
                    <span class="hash" aria-hidden="true">{ "#" }</span>
                    <span class="room-name">{ room.as_str() }</span>
                    { badge(entry.unread) }
                </button>
            </li>
        }
    });
    let dms = props.dms.iter().map(|entry| {
        let channel = Channel::Dm(entry.with.clone());
        let active = is_active(&channel);
        let select = app
            .act
            .reform(move |_: MouseEvent| Action::Select(channel.clone()));
        let with = &entry.with;
        let presence = if entry.online { "online" } else { "offline" };
        html! {
            <li key={with.key()}
                class={classes!("dm", active.then_some("active"), entry.online.then_some("online"), (entry.unread > 0).then_some("unread"))}
                data-user={with.to_string()}>
                <button type="button" class="room-link" onclick={select} aria-current={active.then_some("page")}
                    aria-label={unread_label(&format!("{with}, {presence}"), entry.unread)}>
                    <span class="avatar small" style={format!("--hue:{}", hue(with))} title={presence} aria-hidden="true">
                        { initial(with) }
                    </span>
                    <span class="room-name">{ with.as_str() }</span>
                    { badge(entry.unread) }
                </button>
            </li>
        }
    });
    let open_directory = app.act.reform(|_: MouseEvent| Action::OpenDirectory);
    let logout = props.on_logout.reform(|_: MouseEvent| ());
    let close = on_close.reform(|_: MouseEvent| ());
    let me = app.me.as_ref().map_or("", Username::as_str);
    let initial = me
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_default();

    html! {
        <nav id="sidebar" ref={nav} class={classes!("sidebar", props.open.then_some("open"))} aria-label="Rooms" {onkeydown}>
            <div class="sidebar-head">
                <span class="logo small" aria-hidden="true">{ "P" }</span>
                <span class="brand-name">{ "Parley" }</span>
                <button type="button" class="icon-button sidebar-close" aria-label="Close the menu" title="Close" onclick={close}>
                    <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
                        <path d="M3 3l10 10M13 3L3 13" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                    </svg>
                </button>
            </div>
            <h2 class="sidebar-title" id="my-rooms-title">{ "Your rooms" }</h2>
            if props.rooms.is_empty() {
                <p class="sidebar-empty">{ "You are in no room yet." }</p>
            }
            <ul id="my-rooms" aria-labelledby="my-rooms-title">
                { for rooms }
            </ul>
            <button
                type="button"
                id="open-directory"
                class={classes!("sidebar-action", props.directory_open.then_some("active"))}
                aria-current={props.directory_open.then_some("page")}
                onclick={open_directory}
            >
                <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
                    <path d="M10 4v12M4 10h12" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                </svg>
                { "Browse or create rooms" }
            </button>
            <h2 class="sidebar-title dm-title" id="my-dms-title">{ "Direct messages" }</h2>
            if props.dms.is_empty() {
                <p class="sidebar-empty">{ "No conversations yet." }</p>
            }
            <ul id="my-dms" aria-labelledby="my-dms-title">
                { for dms }
            </ul>
            <NewDmForm
                me={app.me.clone()}
                error={props.new_dm_error.clone()}
                busy={props.new_dm_busy}
                on_submit={app.act.reform(Action::OpenDm)}
                on_edit={app.act.reform(|()| Action::NewDmEdited)}
            />
            // The lab is a page of its own, so that the chat's download does not carry it.
            <a href={crate::lab::PATH} id="open-lab" class="sidebar-link">
                <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
                    <path d="M2 10h3l2-5 3 10 3-7 2 2h3" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
                </svg>
                { "Transport lab" }
            </a>
            <div class="sidebar-foot">
                <span class={classes!("avatar", format!("presence-{}", props.conn_state))} aria-hidden="true">{ initial }</span>
                <span class="me-name" title={format!("Logged in as {me}")}>{ me }</span>
                <button type="button" id="logout" class="small" onclick={logout} disabled={props.logging_out}>
                    { if props.logging_out { "Logging out…" } else { "Log out" } }
                </button>
            </div>
        </nav>
    }
}

/// The unread count, as a badge (nothing when 0).
fn badge(unread: u64) -> Html {
    if unread == 0 {
        return html! {};
    }
    let text = if unread > 99 {
        "99+".to_owned()
    } else {
        unread.to_string()
    };
    html! { <span class="unread-badge" aria-hidden="true">{ text }</span> }
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
pub fn new_dm_target(input: &str, me: Option<&Username>) -> Result<Username, String> {
    let name = input.trim();
    let name = name.strip_prefix('@').unwrap_or(name);
    let user = Username::parse(name).map_err(|err| match err {
        ValidationError::Empty => "Enter the user name of the person to write to.".to_owned(),
        other => name_error_text(&other),
    })?;
    if me.is_some_and(|me| crate::state::same_user(&user, me)) {
        return Err("That is you: pick someone else.".into());
    }
    Ok(user)
}

#[derive(Properties, PartialEq)]
struct NewDmFormProps {
    me: Option<Username>,
    error: Option<String>,
    busy: bool,
    on_submit: Callback<Username>,
    on_edit: Callback<()>,
}

/// "Message someone": a user name, checked here before the server is asked.
#[component]
fn NewDmForm(props: &NewDmFormProps) -> Html {
    let input = use_node_ref();
    let local_error = use_state(|| None::<String>);
    let onsubmit = {
        let input = input.clone();
        let local_error = local_error.clone();
        let me = props.me.clone();
        let on_submit = props.on_submit.clone();
        let busy = props.busy;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(el) = input.cast::<HtmlInputElement>() else {
                return;
            };
            if busy {
                return;
            }
            match new_dm_target(&el.value(), me.as_ref()) {
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
    html! {
        <form id="new-dm-form" class="new-dm" {onsubmit} novalidate=true aria-busy={props.busy.to_string()}>
            <label for="new-dm-name" class="visually-hidden">{ "Start a conversation with (user name)" }</label>
            <div class="new-dm-row">
                <input
                    id="new-dm-name"
                    ref={input}
                    type="text"
                    placeholder="Message someone…"
                    autocomplete="off"
                    autocapitalize="none"
                    spellcheck="false"
                    aria-invalid={error.is_some().to_string()}
                    aria-describedby={error.is_some().then_some("new-dm-error")}
                    {oninput}
                />
                <button type="submit" id="new-dm-submit" class="icon-button" disabled={props.busy}
                    aria-label="Start the conversation" title="Start the conversation">
                    if props.busy {
                        <span class="spinner small" aria-hidden="true"></span>
                    } else {
                        <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
                            <path d="M4 10h11M11 5l5 5-5 5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
                        </svg>
                    }
                </button>
            </div>
            if let Some(text) = &error {
                <p class="field-error" id="new-dm-error" role="alert">{ text }</p>
            }
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_conversation_names_are_checked_like_the_server_does() {
        let me = Username::parse("Alice").unwrap();
        assert_eq!(new_dm_target("  Bob ", Some(&me)).unwrap().as_str(), "Bob");
        assert_eq!(new_dm_target("@bob", Some(&me)).unwrap().as_str(), "bob");
        assert!(
            new_dm_target("", Some(&me))
                .unwrap_err()
                .contains("user name")
        );
        assert!(
            new_dm_target("b", Some(&me))
                .unwrap_err()
                .contains("at least")
        );
        assert!(
            new_dm_target("bo b", Some(&me))
                .unwrap_err()
                .contains("(not a space)")
        );
        assert_eq!(
            new_dm_target("alice", Some(&me)).unwrap_err(),
            "That is you: pick someone else."
        );
    }
}
