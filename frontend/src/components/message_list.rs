//! One room's messages, divided by day, then own messages still on their way.
//! Follows the newest message while the reader is at the bottom; scrolling to the
//! top asks for the page before (and keeps what the reader looks at in place when
//! it is prepended).

use std::cell::RefCell;
use std::rc::Rc;

use parley_common::{ChatMessage, ClientMsgId, RoomName, Username};
use web_sys::Element;
use yew::prelude::*;

use crate::state::Pending;
use crate::time::{self, Day};

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub room: RoomName,
    /// Ordered by `seq`.
    pub messages: Rc<Vec<ChatMessage>>,
    #[prop_or_default]
    pub pending: Rc<Vec<Pending>>,
    /// Messages from this sender are marked `own`.
    #[prop_or_default]
    pub me: Option<Username>,
    /// A history page reached us: the list runs up to the newest message.
    #[prop_or(true)]
    pub loaded: bool,
    /// A history page is on its way (shows `#history-loading`).
    #[prop_or_default]
    pub loading: bool,
    /// Older messages exist (when false and loaded, shows `#history-start`).
    #[prop_or_default]
    pub has_more: bool,
    /// Asks for the page before the oldest message shown.
    #[prop_or_default]
    pub on_load_older: Callback<()>,
    /// Forget a failed message.
    #[prop_or_default]
    pub on_discard: Callback<ClientMsgId>,
}

/// How close to the bottom (in CSS pixels) still counts as "reading the newest".
const STICK_SLACK_PX: i32 = 80;
/// How close to the top (in CSS pixels) starts loading the page before.
const LOAD_OLDER_PX: i32 = 300;

/// What the scroller looked like after the last render or scroll.
#[derive(Default)]
struct Scroll {
    /// Follow new messages: true until the reader scrolls up.
    stick: bool,
    first_seq: Option<u64>,
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

#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let scroller = use_node_ref();
    let scroll = use_mut_ref(|| Scroll {
        stick: true,
        ..Scroll::default()
    });
    let can_load = props.loaded && props.has_more && !props.loading;

    let onscroll = {
        let scroller = scroller.clone();
        let scroll = scroll.clone();
        let load_older = props.on_load_older.clone();
        Callback::from(move |_: Event| {
            let Some(el) = scroller.cast::<Element>() else {
                return;
            };
            let mut scroll = scroll.borrow_mut();
            scroll.record(&el);
            let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
            scroll.stick = from_bottom <= STICK_SLACK_PX;
            if can_load && el.scroll_top() < LOAD_OLDER_PX {
                load_older.emit(());
            }
        })
    };

    {
        let scroller = scroller.clone();
        let first_seq = props.messages.first().map(|m| m.seq);
        let last_seq = props.messages.last().map(|m| m.seq);
        let deps = (first_seq, last_seq, props.pending.len(), props.loading);
        let load_older = props.on_load_older.clone();
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

    let me = props.me.as_ref().map(Username::key);
    let today = time::today();
    let mut items = Vec::with_capacity(props.messages.len() + props.pending.len() + 4);
    let mut last_day = None::<Day>;
    let mut separate = |items: &mut Vec<Html>, day: Day| {
        if last_day != Some(day) {
            last_day = Some(day);
            items.push(separator(day, today));
        }
    };
    for m in props.messages.iter() {
        separate(&mut items, time::day_of(m.ts));
        items.push(message(m, me.as_ref() == Some(&m.sender.key())));
    }
    if !props.pending.is_empty() {
        separate(&mut items, today);
    }
    for p in props.pending.iter() {
        items.push(pending(p, props.me.as_ref(), &props.on_discard));
    }

    let room = props.room.as_str();
    let nothing = props.messages.is_empty() && props.pending.is_empty();
    html! {
        <section class="timeline" ref={scroller} {onscroll} aria-label={format!("Messages in #{room}")}>
            <div class="timeline-inner">
                if props.loading {
                    <div id="history-loading" class="history-loading" role="status">
                        <span class="spinner" aria-hidden="true"></span>
                        { if nothing { "Loading messages…" } else { "Loading earlier messages…" } }
                    </div>
                } else if props.loaded && !props.has_more {
                    <div id="history-start" class="history-start">
                        <span class="room-badge" aria-hidden="true">{ "#" }</span>
                        <h2>{ format!("Welcome to #{room}") }</h2>
                        <p>
                            { format!("This is the beginning of #{room}.") }
                            if nothing { { " No messages yet: say hello!" } }
                        </p>
                    </div>
                }
                <ol id="messages" data-room={room.to_owned()} aria-live="polite">
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
    if prepended && !scroll.stick {
        el.set_scroll_top(scroll.top + el.scroll_height() - scroll.height);
    } else if sent || scroll.stick {
        el.set_scroll_top(el.scroll_height());
        scroll.stick = true;
    }
    scroll.first_seq = first_seq;
    scroll.pending = pending;
    scroll.record(el);
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

fn pending(p: &Pending, me: Option<&Username>, on_discard: &Callback<ClientMsgId>) -> Html {
    let sender = me.map(Username::as_str).unwrap_or("You");
    let key = format!("pending-{}", p.client_id);
    match (&p.failed, p.acked) {
        (None, acked) => html! {
            <li {key} class={classes!("message", "own", "pending", acked.is_some().then_some("acked"))} data-client-id={p.client_id.to_string()}>
                <div class="meta">
                    <span class="sender">{ sender }</span>
                    <span class="state">{ if acked.is_some() { "Sent" } else { "Sending…" } }</span>
                </div>
                <span class="body">{ p.body.as_str() }</span>
            </li>
        },
        (Some(reason), _) => {
            let id = p.client_id.clone();
            let discard = on_discard.reform(move |_: MouseEvent| id.clone());
            html! {
                <li {key} class="message own failed" data-client-id={p.client_id.to_string()}>
                    <div class="meta">
                        <span class="sender">{ sender }</span>
                        <span class="state">{ format!("Not sent: {reason}") }</span>
                        <button type="button" class="link" onclick={discard}>{ "Dismiss" }</button>
                    </div>
                    <span class="body">{ p.body.as_str() }</span>
                </li>
            }
        }
    }
}
