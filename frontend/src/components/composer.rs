//! Writing a message: Enter sends, Shift+Enter starts a new line; typing is
//! reported (the app decides how often to tell the others).

use parley_common::{CharName, MessageBody, ValidationError};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// Called with the validated body; the text area is cleared afterwards.
    pub on_send: Callback<MessageBody>,
    /// Shown as the text area's placeholder.
    #[prop_or(AttrValue::Static("Message"))]
    pub placeholder: AttrValue,
    /// Called on every edit that leaves some text in the box.
    #[prop_or_default]
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

#[component]
pub fn Composer(props: &ComposerProps) -> Html {
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

    let onsubmit = send.reform(|e: SubmitEvent| e.prevent_default());
    let onkeydown = Callback::from(move |e: KeyboardEvent| {
        // Not while an input method is composing (Enter confirms the candidate).
        if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
            e.prevent_default();
            send.emit(());
        }
    });
    let oninput = {
        let chars = chars.clone();
        let error = error.clone();
        let on_typing = props.on_typing.clone();
        Callback::from(move |e: InputEvent| {
            let el: HtmlTextAreaElement = e.target_unchecked_into();
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
    html! {
        <form id="composer-form" class="composer" {onsubmit} novalidate=true>
            if let Some(message) = &*error {
                <p class="field-error" id="composer-error" role="alert">{ message }</p>
            }
            <div class="composer-row">
                <textarea
                    id="composer"
                    ref={textarea}
                    rows="1"
                    placeholder={props.placeholder.clone()}
                    aria-label="Message"
                    aria-invalid={invalid.to_string()}
                    aria-describedby={error.is_some().then_some("composer-error")}
                    {onkeydown}
                    {oninput}
                />
                <button type="submit" id="send" class="primary" aria-label="Send" title="Send (Enter)">
                    <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                        <path d="M3.4 20.4 21 12 3.4 3.6 3.4 10.2 15 12 3.4 13.8z" fill="currentColor" />
                    </svg>
                    <span class="send-label">{ "Send" }</span>
                </button>
            </div>
            <div class="composer-hint">
                <span class="hint">{ "Enter to send · Shift+Enter for a new line" }</span>
                if *chars >= COUNTER_FROM {
                    <span class={classes!("counter", over.then_some("over"))} aria-live="polite">
                        { format!("{} / {}", *chars, MessageBody::MAX_CHARS) }
                    </span>
                }
            </div>
        </form>
    }
}
