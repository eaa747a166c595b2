//! Writing a message: Enter sends, Shift+Enter starts a new line; typing is
//! reported (the app decides how often to tell the others).

use parley_common::{CharName, MessageBody, ValidationError};
use web_sys::{HtmlTextAreaElement, InputEvent, KeyboardEvent};

use super::icon;
use crate::ui::{
    AttrValue, Callback, Html, classes, h, target, use_effect_with, use_node_ref, use_state, when,
};

#[derive(Clone, PartialEq)]
pub struct ComposerProps {
    /// Called with the validated body; the text area is cleared afterwards.
    pub on_send: Callback<MessageBody>,
    /// Shown as the text area's placeholder.
    pub placeholder: AttrValue,
    /// Called on every edit that leaves some text in the box.
    pub on_typing: Callback<()>,
}

/// The character counter appears once this many characters are typed.
const COUNTER_FROM: usize = MessageBody::MAX_CHARS * 3 / 4;

/// What to tell the user about a body that cannot be sent.
pub fn body_error_text(err: &ValidationError, chars: usize) -> String {
    match err {
        ValidationError::Empty | ValidationError::TooShort { .. } => "Type a message first.".into(),
        ValidationError::TooLong { max } => {
            format!("Your message is too long: {chars} of at most {max} characters.")
        }
        ValidationError::ControlCharacter => {
            "Your message contains invisible control characters.".into()
        }
        ValidationError::InvalidCharacter(c) => {
            format!("Your message cannot contain {}.", CharName(*c))
        }
    }
}

pub fn composer(props: &ComposerProps) -> Html {
    let textarea = use_node_ref();
    let chars = use_state(|| 0usize);
    let error = use_state(|| None::<String>);

    // Ready to type as soon as the chat appears.
    {
        let textarea = textarea.clone();
        use_effect_with((), move |()| {
            if let Some(el) = textarea.cast::<HtmlTextAreaElement>() {
                let _ = el.focus();
            }
        });
    }

    // Reads the text area, validates, sends and clears.
    let send = {
        let textarea = textarea.clone();
        let chars = chars.clone();
        let error = error.clone();
        let on_send = props.on_send.clone();
        Callback::from(move |()| {
            let Some(el) = textarea.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let value = el.value();
            match MessageBody::parse(&value) {
                Ok(body) => {
                    on_send.emit(body);
                    el.set_value("");
                    chars.set(0);
                    error.set(None);
                }
                Err(err) => error.set(Some(body_error_text(&err, value.chars().count()))),
            }
            let _ = el.focus();
        })
    };

    let onkeydown = {
        let send = send.clone();
        Callback::from(move |e: KeyboardEvent| {
            // Not while an input method is composing (Enter confirms the candidate).
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                send.emit(());
            }
        })
    };
    let oninput = {
        let chars = chars.clone();
        let error = error.clone();
        let on_typing = props.on_typing.clone();
        Callback::from(move |e: InputEvent| {
            let Some(el) = target::<HtmlTextAreaElement>(&e) else {
                return;
            };
            let count = el.value().chars().count();
            chars.set(count);
            if error.is_some() {
                error.set(None);
            }
            if count > 0 {
                on_typing.emit(());
            }
        })
    };

    let over = *chars > MessageBody::MAX_CHARS;
    let invalid = error.is_some() || over;
    h("form")
        .id("composer-form")
        .class("composer")
        .onsubmit(send)
        .flag("novalidate", true)
        .child((*error).as_ref().map(|message| {
            h("p")
                .class("field-error")
                .id("composer-error")
                .attr("role", "alert")
                .text(message.clone())
        }))
        .child(
            h("div")
                .class("composer-row")
                .child(
                    h("textarea")
                        .id("composer")
                        .node_ref(&textarea)
                        .attr("rows", "1")
                        .attr("placeholder", props.placeholder.clone())
                        .attr("aria-label", "Message")
                        .attr("aria-invalid", if invalid { "true" } else { "false" })
                        .attr_opt(
                            "aria-describedby",
                            error.is_some().then_some("composer-error"),
                        )
                        .on("keydown", onkeydown)
                        .oninput(oninput),
                )
                .child(
                    h("button")
                        .attr("type", "submit")
                        .id("send")
                        .class("primary")
                        .attr("aria-label", "Send")
                        .attr("title", "Send (Enter)")
                        .child(
                            icon("0 0 24 24", "20").child(
                                h("path")
                                    .attr("d", "M3.4 20.4 21 12 3.4 3.6 3.4 10.2 15 12 3.4 13.8z")
                                    .attr("fill", "currentColor"),
                            ),
                        )
                        .child(h("span").class("send-label").text("Send")),
                ),
        )
        .child(
            h("div")
                .class("composer-hint")
                .child(
                    h("span")
                        .class("hint")
                        .text("Enter to send · Shift+Enter for a new line"),
                )
                .child((*chars >= COUNTER_FROM).then(|| {
                    h("span")
                        .class(classes(&["counter", when(over, "over")]))
                        .attr("aria-live", "polite")
                        .text(format!("{} / {}", *chars, MessageBody::MAX_CHARS))
                })),
        )
        .into()
}
