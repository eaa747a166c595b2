//! The sidebar: the user's rooms, the way to the directory, who is logged in and
//! the log-out button. At phone width it is a drawer behind the menu button.

use parley_common::{RoomName, Username};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SidebarProps {
    pub me: Username,
    /// The user's rooms, in display order.
    pub rooms: Vec<RoomName>,
    /// The room shown (highlighted unless the directory is open).
    #[prop_or_default]
    pub active: Option<RoomName>,
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
    pub on_select: Callback<RoomName>,
    pub on_open_directory: Callback<()>,
    pub on_logout: Callback<()>,
    /// Close the drawer (Escape, or its close button).
    #[prop_or_default]
    pub on_close: Callback<()>,
}

#[component]
pub fn Sidebar(props: &SidebarProps) -> Html {
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
                nav.query_selector("li.room.active button")
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
    let rooms = props.rooms.iter().map(|room| {
        let active = !props.directory_open && props.active.as_ref() == Some(room);
        let select = {
            let room = room.clone();
            props.on_select.reform(move |_: MouseEvent| room.clone())
        };
        html! {
            <li key={room.as_str()} class={classes!("room", active.then_some("active"))} data-room={room.to_string()}>
                <button type="button" class="room-link" onclick={select} aria-current={active.then_some("page")}>
                    <span class="hash" aria-hidden="true">{ "#" }</span>
                    <span class="room-name">{ room.as_str() }</span>
                </button>
            </li>
        }
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
            <div class="sidebar-foot">
                <span class={classes!("avatar", format!("presence-{}", props.conn_state))} aria-hidden="true">{ initial }</span>
                <span class="me-name" title={format!("Logged in as {}", props.me)}>{ props.me.as_str() }</span>
                <button type="button" id="logout" class="small" onclick={logout} disabled={props.logging_out}>
                    { if props.logging_out { "Logging out…" } else { "Log out" } }
                </button>
            </div>
        </nav>
    }
}
