//! One room's or conversation's messages, divided by day, then own messages still
//! on their way. Follows the newest message while the reader is at the bottom;
//! scrolling to the top asks for the page before (and keeps what the reader looks
//! at in place when it is prepended). Shows where the unread messages start, and
//! reports what the reader has seen while the page has the focus.

use std::cell::RefCell;
use std::rc::Rc;

use parley_common::{Channel, ChatMessage, Username};
use wasm_bindgen::JsCast;
use web_sys::Element;
use yew::prelude::*;

use crate::context::{AppContext, use_app};
use crate::state::{Action, Pending};
use crate::time::{self, Day};

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub channel: Channel,
    /// Ordered by `seq`.
    pub messages: Rc<Vec<ChatMessage>>,
    #[prop_or_default]
    pub pending: Rc<Vec<Pending>>,
    /// A history page reached us: the list runs up to the newest message.
    #[prop_or(true)]
    pub loaded: bool,
    /// A history page is on its way (shows `#history-loading`).
    #[prop_or_default]
    pub loading: bool,
    /// Older messages exist (when false and loaded, shows `#history-start`).
    #[prop_or_default]
    pub has_more: bool,
    /// The "New messages" divider goes above the message with this seq (or the
    /// first one after it).
    #[prop_or_default]
    pub divider: Option<u64>,
    /// The read marker: everything up to this seq has been read.
    #[prop_or_default]
    pub last_read: u64,
    /// What is shown is being read (the page is visible and has the focus, and
    /// the read marker can be sent).
    #[prop_or_default]
    pub reading: bool,
}

/// How close to the bottom (in CSS pixels) still counts as "reading the newest".
const STICK_SLACK_PX: i32 = 80;
/// How close to the top (in CSS pixels) starts loading the page before.
const LOAD_OLDER_PX: i32 = 300;
/// Room left above the "New messages" divider when a chat opens at it (enough
/// for a day separator and a glimpse of the last read message).
const DIVIDER_MARGIN_PX: i32 = 56;

/// What the scroller looked like after the last render or scroll.
#[derive(Default)]
struct Scroll {
    /// Follow new messages: true until the reader scrolls up.
    stick: bool,
    first_seq: Option<u64>,
    /// Messages were shown already: the next ones are not the first page.
    filled: bool,
    height: i32,
    top: i32,
    pending: usize,
}

impl Scroll {
    fn record(&mut self, el: &Element) {
        self.height = el.scroll_height();
        self.top = el.scroll_top();
    }
}

/// Own messages (the logged-in user's, from [`AppContext`]) are marked `own`.
/// What the reader does becomes an [`Action`] for the app: reading moves the
/// read marker (`Read`), scrolling to the top asks for the page before
/// (`LoadOlder`), a failed message is sent again or forgotten (`RetryFailed`,
/// `DiscardFailed`).
#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let app = use_app();
    let channel = &props.channel;
    let on_read = {
        let channel = channel.clone();
        app.act.reform(move |seq| Action::Read {
            channel: channel.clone(),
            seq,
        })
    };
    let load_older = {
        let channel = channel.clone();
        app.act.reform(move |()| Action::LoadOlder(channel.clone()))
    };
    let scroller = use_node_ref();
    let scroll = use_mut_ref(|| Scroll {
        stick: true,
        ..Scroll::default()
    });
    let can_load = props.loaded && props.has_more && !props.loading;
    let newest = props.messages.last().map_or(0, |m| m.seq);

    // Tells the app how far the reader has seen, when that is news.
    let report_read = {
        let scroller = scroller.clone();
        let (reading, last_read) = (props.reading, props.last_read);
        Callback::from(move |()| {
            if !reading || newest <= last_read {
                return;
            }
            if let Some(el) = scroller.cast::<Element>()
                && let Some(seen) = last_seen(&el)
                && seen > last_read
            {
                on_read.emit(seen);
            }
        })
    };

    let onscroll = {
        let scroller = scroller.clone();
        let scroll = scroll.clone();
        let load_older = load_older.clone();
        let report_read = report_read.clone();
        Callback::from(move |_: Event| {
            let Some(el) = scroller.cast::<Element>() else {
                return;
            };
            {
                let mut scroll = scroll.borrow_mut();
                scroll.record(&el);
                let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
                scroll.stick = from_bottom <= STICK_SLACK_PX;
            }
            if can_load && el.scroll_top() < LOAD_OLDER_PX {
                load_older.emit(());
            }
            report_read.emit(());
        })
    };

    {
        let scroller = scroller.clone();
        let first_seq = props.messages.first().map(|m| m.seq);
        let last_seq = props.messages.last().map(|m| m.seq);
        let deps = (first_seq, last_seq, props.pending.len(), props.loading);
        use_effect_with(deps, move |&(first_seq, _, pending, _)| {
            if let Some(el) = scroller.cast::<Element>() {
                follow(&el, &scroll, first_seq, pending);
                // Not enough messages to scroll (or already near the top): the
                // reader cannot scroll up to ask for more, so ask now.
                if can_load && el.scroll_top() < LOAD_OLDER_PX {
                    load_older.emit(());
                }
            }
        });
    }

    // After the list follows (or not) the newest message: what is visible now,
    // when the page gains the focus, and when the marker moved back (a new
    // connection's `welcome`).
    {
        use_effect_with((props.reading, newest, props.last_read), move |_| {
            report_read.emit(());
        });
    }

    let today = time::today();
    let mut items = Vec::with_capacity(props.messages.len() + props.pending.len() + 4);
    let mut last_day = None::<Day>;
    let mut separate = |items: &mut Vec<Html>, day: Day| {
        if last_day != Some(day) {
            last_day = Some(day);
            items.push(separator(day, today));
        }
    };
    let mut divider = props.divider;
    for m in props.messages.iter() {
        separate(&mut items, time::day_of(m.ts));
        if divider.is_some_and(|d| m.seq >= d) {
            divider = None;
            items.push(html! {
                <li key="new-messages" class="new-messages-divider" role="separator" aria-label="New messages">
                    <span>{ "New messages" }</span>
                </li>
            });
        }
        items.push(message(m, app.is_me(&m.sender)));
    }
    if !props.pending.is_empty() {
        separate(&mut items, today);
    }
    for p in props.pending.iter() {
        items.push(pending(p, channel, &app));
    }

    let nothing = props.messages.is_empty() && props.pending.is_empty();
    let (data_room, data_dm) = match &props.channel {
        Channel::Room(room) => (Some(room.to_string()), None),
        Channel::Dm(user) => (None, Some(user.to_string())),
    };
    let label = match &props.channel {
        Channel::Room(room) => format!("Messages in #{room}"),
        Channel::Dm(user) => format!("Messages with {user}"),
    };
    html! {
        <section class="timeline" ref={scroller} {onscroll} aria-label={label}>
            <div class="timeline-inner">
                if props.loading {
                    <div id="history-loading" class="history-loading" role="status">
                        <span class="spinner" aria-hidden="true"></span>
                        { if nothing { "Loading messages…" } else { "Loading earlier messages…" } }
                    </div>
                } else if props.loaded && !props.has_more {
                    { history_start(&props.channel, nothing) }
                }
                <ol id="messages" data-room={data_room} data-dm={data_dm} aria-live="polite">
                    { for items }
                </ol>
            </div>
        </section>
    }
}

/// After a render: keeps the reader's place when older messages were prepended,
/// or follows the newest message.
fn follow(el: &Element, scroll: &Rc<RefCell<Scroll>>, first_seq: Option<u64>, pending: usize) {
    let mut scroll = scroll.borrow_mut();
    let prepended = matches!((scroll.first_seq, first_seq), (Some(old), Some(new)) if new < old);
    // Having just sent something, the sender wants to see it even if they had
    // scrolled up.
    let sent = pending > scroll.pending;
    let first_fill = !scroll.filled && first_seq.is_some();
    if first_fill && let Some(top) = divider_top(el) {
        // Opening a chat with unread messages: start with the first unread one
        // near the top, unless they all fit above the bottom anyway.
        let bottom = el.scroll_height() - el.client_height();
        if top < bottom {
            el.set_scroll_top(top);
            scroll.stick = false;
        } else {
            el.set_scroll_top(el.scroll_height());
        }
    } else if prepended && !scroll.stick {
        el.set_scroll_top(scroll.top + el.scroll_height() - scroll.height);
    } else if sent || scroll.stick {
        el.set_scroll_top(el.scroll_height());
        scroll.stick = true;
    }
    scroll.filled |= first_seq.is_some();
    scroll.first_seq = first_seq;
    scroll.pending = pending;
    scroll.record(el);
}

/// Where the "New messages" divider is, as a `scrollTop` that shows it near the
/// top of the scroller.
fn divider_top(el: &Element) -> Option<i32> {
    let divider = el.query_selector(".new-messages-divider").ok()??;
    let offset = divider.get_bounding_client_rect().top() - el.get_bounding_client_rect().top();
    Some((f64::from(el.scroll_top()) + offset) as i32 - DIVIDER_MARGIN_PX)
}

/// The seq of the newest message whose bottom edge is in view, if any.
fn last_seen(el: &Element) -> Option<u64> {
    let bottom = el.get_bounding_client_rect().bottom() + 2.0;
    let shown = el
        .query_selector_all("#messages > li.message[data-seq]")
        .ok()?;
    (0..shown.length())
        .rev()
        .filter_map(|i| shown.item(i)?.dyn_into::<Element>().ok())
        .find(|li| li.get_bounding_client_rect().bottom() <= bottom)
        .and_then(|li| li.get_attribute("data-seq")?.parse().ok())
}

/// The top of the list: where the room or conversation begins.
fn history_start(channel: &Channel, nothing: bool) -> Html {
    let (badge, title, text) = match channel {
        Channel::Room(room) => (
            "#".to_owned(),
            format!("Welcome to #{room}"),
            format!("This is the beginning of #{room}."),
        ),
        Channel::Dm(user) => (
            crate::components::initial(user),
            user.to_string(),
            format!("This is the beginning of your conversation with {user}."),
        ),
    };
    html! {
        <div id="history-start" class="history-start">
            <span class={classes!("room-badge", matches!(channel, Channel::Dm(_)).then_some("person"))} aria-hidden="true">{ badge }</span>
            <h2>{ title }</h2>
            <p>
                { text }
                if nothing { { " No messages yet: say hello!" } }
            </p>
        </div>
    }
}

fn separator(day: Day, today: Day) -> Html {
    let label = time::day_label(day, today);
    html! {
        <li key={format!("day-{}", day.key())} class="day-separator" data-day={day.key()} role="separator" aria-label={label.clone()}>
            <span>{ label }</span>
        </li>
    }
}

fn message(m: &ChatMessage, own: bool) -> Html {
    html! {
        <li key={m.seq} class={classes!("message", own.then_some("own"))} data-seq={m.seq.to_string()}>
            <div class="meta">
                <span class="sender">{ m.sender.as_str() }</span>
                <time datetime={time::iso(m.ts)} title={time::local_full(m.ts)}>{ time::local_hhmm(m.ts) }</time>
            </div>
            // A text node: markup in the body is shown, never interpreted.
            <span class="body">{ m.body.as_str() }</span>
        </li>
    }
}

/// An own message on its way: `.pending` (waiting for the server, a clock),
/// `.sent` (acknowledged, a check mark, until its stored copy takes its place) or
/// `.failed` (refused: the server's reason, Retry and Discard).
fn pending(p: &Pending, channel: &Channel, app: &AppContext) -> Html {
    let sender = app.me.as_ref().map_or("You", Username::as_str);
    let key = format!("pending-{}", p.client_id);
    let client_id = p.client_id.to_string();
    match (&p.failed, p.acked) {
        (None, acked) => {
            let (class, label, icon) = match acked {
                None => ("pending", "Sending…", clock_icon()),
                Some(_) => ("sent", "Sent", check_icon()),
            };
            html! {
                <li {key} class={classes!("message", "own", class)} data-client-id={client_id}>
                    <div class="meta">
                        <span class="sender">{ sender }</span>
                        <span class="state">{ icon }{ label }</span>
                    </div>
                    <span class="body">{ p.body.as_str() }</span>
                </li>
            }
        }
        (Some(reason), _) => {
            let retry = {
                let (channel, client_id) = (channel.clone(), p.client_id.clone());
                app.act.reform(move |_: MouseEvent| Action::RetryFailed {
                    channel: channel.clone(),
                    client_id: client_id.clone(),
                })
            };
            let discard = {
                let (channel, client_id) = (channel.clone(), p.client_id.clone());
                app.act.reform(move |_: MouseEvent| Action::DiscardFailed {
                    channel: channel.clone(),
                    client_id: client_id.clone(),
                })
            };
            html! {
                <li {key} class="message own failed" data-client-id={client_id}>
                    <div class="meta">
                        <span class="sender">{ sender }</span>
                        <span class="state" role="alert">{ format!("Not sent: {reason}") }</span>
                    </div>
                    <span class="body">{ p.body.as_str() }</span>
                    <div class="failed-actions">
                        <button type="button" class="small retry" onclick={retry}>{ "Retry" }</button>
                        <button type="button" class="link discard" onclick={discard}>{ "Discard" }</button>
                    </div>
                </li>
            }
        }
    }
}

fn clock_icon() -> Html {
    html! {
        <svg class="state-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
            <circle cx="8" cy="8" r="6.25" fill="none" stroke="currentColor" stroke-width="1.5" />
            <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" />
        </svg>
    }
}

fn check_icon() -> Html {
    html! {
        <svg class="state-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
            <path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
    }
}
