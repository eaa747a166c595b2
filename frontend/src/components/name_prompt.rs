//! The first screen: pick a display name.

use parley_common::{Username, ValidationError};
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct NamePromptProps {
    /// Called with the validated name.
    pub on_submit: Callback<Username>,
}

/// What to tell the user about a rejected name.
pub fn name_error_text(err: &ValidationError) -> String {
    match err {
        ValidationError::Empty => "Please enter a name.".into(),
        ValidationError::TooLong { max } => format!("A name can have at most {max} characters."),
        ValidationError::ControlCharacter => "A name cannot contain control characters.".into(),
        ValidationError::InvalidCharacter(c) => format!("A name cannot contain {c:?}."),
    }
}

#[component]
pub fn NamePrompt(props: &NamePromptProps) -> Html {
    let input = use_node_ref();
    let error = use_state(|| None::<String>);

    let onsubmit = {
        let input = input.clone();
        let error = error.clone();
        let on_submit = props.on_submit.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = input
                .cast::<HtmlInputElement>()
                .map(|el| el.value())
                .unwrap_or_default();
            match Username::parse(&value) {
                Ok(name) => {
                    error.set(None);
                    on_submit.emit(name);
                }
                Err(err) => error.set(Some(name_error_text(&err))),
            }
        })
    };
    // Typing clears a shown error.
    let oninput = {
        let error = error.clone();
        Callback::from(move |_: InputEvent| {
            if error.is_some() {
                error.set(None);
            }
        })
    };

    let invalid = error.is_some();
    html! {
        <main class="welcome">
            <div class="welcome-card">
                <div class="logo" aria-hidden="true">{ "P" }</div>
                <h1>{ "Welcome to Parley" }</h1>
                <p class="lead">{ "Pick a display name to join the lobby." }</p>
                <form id="name-form" {onsubmit} novalidate=true>
                    <label for="name-input">{ "Display name" }</label>
                    <input
                        id="name-input"
                        ref={input}
                        type="text"
                        name="name"
                        autocomplete="nickname"
                        placeholder="e.g. Alice"
                        autofocus=true
                        spellcheck="false"
                        aria-invalid={invalid.to_string()}
                        aria-describedby={invalid.then_some("name-error")}
                        {oninput}
                    />
                    if let Some(message) = &*error {
                        <p class="field-error" id="name-error" role="alert">{ message }</p>
                    }
                    <button type="submit" id="name-submit" class="primary">{ "Join the chat" }</button>
                </form>
            </div>
        </main>
    }
}
