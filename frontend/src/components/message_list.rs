//! The lobby's messages, then own messages still on their way, kept scrolled to the
//! newest one while the reader is at the bottom.

use std::rc::Rc;

use parley_common::{ChatMessage, ClientMsgId, Username};
use web_sys::Element;
use yew::prelude::*;

use crate::state::Pending;
use crate::time;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub messages: Rc<Vec<ChatMessage>>,
    #[prop_or_default]
    pub pending: Vec<Pending>,
    /// Messages from this sender are marked `own`.
    #[prop_or_default]
    pub me: Option<Username>,
    /// Forget a failed message.
    #[prop_or_default]
    pub on_discard: Callback<ClientMsgId>,
}

/// How close to the bottom (in CSS pixels) still counts as "reading the newest".
const STICK_SLACK_PX: i32 = 80;

#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let scroller = use_node_ref();
    // Whether the view follows new messages: true until the reader scrolls up.
    let stick = use_mut_ref(|| true);
    let seen_pending = use_mut_ref(|| 0usize);

    let onscroll = {
        let scroller = scroller.clone();
        let stick = stick.clone();
        Callback::from(move |_: Event| {
            if let Some(el) = scroller.cast::<Element>() {
                let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
                *stick.borrow_mut() = from_bottom <= STICK_SLACK_PX;
            }
        })
    };

    {
        let scroller = scroller.clone();
        let last_seq = props.messages.last().map(|m| m.seq);
        let deps = (props.messages.len(), last_seq, props.pending.len());
        use_effect_with(deps, move |&(_, _, pending)| {
            // Having just sent something, the sender wants to see it even if they
            // had scrolled up.
            let sent = pending > *seen_pending.borrow();
            *seen_pending.borrow_mut() = pending;
            if (sent || *stick.borrow())
                && let Some(el) = scroller.cast::<Element>()
            {
                el.set_scroll_top(el.scroll_height());
                *stick.borrow_mut() = true;
            }
        });
    }

    let is_me = |sender: &Username| props.me.as_ref() == Some(sender);
    let empty = props.messages.is_empty() && props.pending.is_empty();

    html! {
        <section class="timeline" ref={scroller} {onscroll} aria-label="Messages">
            if empty {
                <div class="empty-state">
                    <p class="empty-title">{ "No messages yet" }</p>
                    <p>{ "Say hello to everyone in the lobby." }</p>
                </div>
            }
            <ol id="messages" aria-live="polite">
                { for props.messages.iter().map(|m| message(m, is_me(&m.sender))) }
                { for props.pending.iter().map(|p| pending(p, props.me.as_ref(), &props.on_discard)) }
            </ol>
        </section>
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
    match &p.failed {
        None => html! {
            <li {key} class="message own pending" data-client-id={p.client_id.to_string()}>
                <div class="meta">
                    <span class="sender">{ sender }</span>
                    <span class="state">{ "Sending…" }</span>
                </div>
                <span class="body">{ p.body.as_str() }</span>
            </li>
        },
        Some(reason) => {
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
