//! The first screen without a session: one form that logs in or creates an
//! account, with the server's rules checked before anything is sent.

use parley_common::Credentials;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::auth::{self, AuthField, AuthMode, AuthProblem, FieldErrors};

#[derive(Properties, PartialEq)]
pub struct AuthPageProps {
    /// A request is on its way: the submit button waits.
    #[prop_or_default]
    pub busy: bool,
    /// Why the server refused the last attempt.
    #[prop_or_default]
    pub problem: Option<AuthProblem>,
    /// Why the user is here (e.g. "You were logged out.").
    #[prop_or_default]
    pub notice: Option<String>,
    /// Called with valid credentials.
    pub on_submit: Callback<(AuthMode, Credentials)>,
    /// The user changed something: the server's complaint no longer applies.
    #[prop_or_default]
    pub on_edit: Callback<()>,
}

#[component]
pub fn AuthPage(props: &AuthPageProps) -> Html {
    let mode = use_state(AuthMode::default);
    let errors = use_state(FieldErrors::default);
    let name = use_node_ref();
    let password = use_node_ref();

    let value = |node: &NodeRef| {
        node.cast::<HtmlInputElement>()
            .map(|el| el.value())
            .unwrap_or_default()
    };
    let focus = |node: &NodeRef| {
        if let Some(el) = node.cast::<HtmlInputElement>() {
            let _ = el.focus();
        }
    };

    let onsubmit = {
        let mode = mode.clone();
        let errors = errors.clone();
        let (name, password) = (name.clone(), password.clone());
        let on_submit = props.on_submit.clone();
        let busy = props.busy;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if busy {
                return;
            }
            match auth::validate(*mode, &value(&name), &value(&password)) {
                Ok(credentials) => {
                    errors.set(FieldErrors::default());
                    on_submit.emit((*mode, credentials));
                }
                Err(found) => {
                    focus(if found.name.is_some() {
                        &name
                    } else {
                        &password
                    });
                    errors.set(found);
                }
            }
        })
    };
    let ontoggle = {
        let mode = mode.clone();
        let errors = errors.clone();
        let on_edit = props.on_edit.clone();
        Callback::from(move |_: MouseEvent| {
            mode.set(mode.toggled());
            errors.set(FieldErrors::default());
            on_edit.emit(());
        })
    };
    let edited = |field: AuthField| {
        let errors = errors.clone();
        let on_edit = props.on_edit.clone();
        Callback::from(move |_: InputEvent| {
            let stale = match field {
                AuthField::Name => errors.name.is_some(),
                AuthField::Password | AuthField::Form => errors.password.is_some(),
            };
            if stale {
                let mut next = (*errors).clone();
                match field {
                    AuthField::Name => next.name = None,
                    AuthField::Password | AuthField::Form => next.password = None,
                }
                errors.set(next);
            }
            on_edit.emit(());
        })
    };

    let server = |field: AuthField| {
        props
            .problem
            .as_ref()
            .filter(|p| p.field == field)
            .map(|p| p.text.clone())
    };
    let name_error = errors.name.clone().or_else(|| server(AuthField::Name));
    let password_error = errors
        .password
        .clone()
        .or_else(|| server(AuthField::Password));
    let form_error = server(AuthField::Form);
    let register = *mode == AuthMode::Register;
    let described = |error: bool, id: &'static str, hint: Option<&'static str>| {
        if error {
            Some(id)
        } else {
            hint.filter(|_| register)
        }
    };

    html! {
        <main class="auth">
            <div class="auth-card">
                <div class="logo" aria-hidden="true">{ "P" }</div>
                <h1>{ if register { "Create your account" } else { "Log in to Parley" } }</h1>
                <p class="lead">
                    { if register {
                        "Pick a user name and a password to start chatting."
                    } else {
                        "Welcome back. Your rooms and their history are waiting."
                    } }
                </p>
                if let Some(notice) = &props.notice {
                    <p class="auth-notice" role="status">{ notice }</p>
                }
                <form id="auth-form" data-mode={mode.as_str()} onsubmit={onsubmit} novalidate=true aria-busy={props.busy.to_string()}>
                    <div class="field">
                        <label for="auth-name">{ "User name" }</label>
                        <input
                            id="auth-name"
                            ref={name}
                            type="text"
                            name="username"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            autofocus=true
                            aria-invalid={name_error.is_some().to_string()}
                            aria-describedby={described(name_error.is_some(), "auth-name-error", Some("auth-name-hint"))}
                            oninput={edited(AuthField::Name)}
                        />
                        if let Some(message) = &name_error {
                            <p class="field-error" id="auth-name-error">{ message }</p>
                        } else if register {
                            <p class="hint" id="auth-name-hint">{ "2–32 letters, digits, _ - or ." }</p>
                        }
                    </div>
                    <div class="field">
                        <label for="auth-password">{ "Password" }</label>
                        <input
                            id="auth-password"
                            ref={password}
                            type="password"
                            name="password"
                            autocomplete={if register { "new-password" } else { "current-password" }}
                            aria-invalid={password_error.is_some().to_string()}
                            aria-describedby={described(password_error.is_some(), "auth-password-error", Some("auth-password-hint"))}
                            oninput={edited(AuthField::Password)}
                        />
                        if let Some(message) = &password_error {
                            <p class="field-error" id="auth-password-error">{ message }</p>
                        } else if register {
                            <p class="hint" id="auth-password-hint">
                                { "At least 8 characters; not a common password, not your user name." }
                            </p>
                        }
                    </div>
                    if let Some(message) = &form_error {
                        <p class="field-error form-error" id="auth-error" role="alert">{ message }</p>
                    }
                    <button type="submit" id="auth-submit" class="primary" disabled={props.busy}>
                        { match (register, props.busy) {
                            (false, false) => "Log in",
                            (false, true) => "Logging in…",
                            (true, false) => "Create account",
                            (true, true) => "Creating account…",
                        } }
                    </button>
                </form>
                <p class="auth-switch">
                    { if register { "Already have an account? " } else { "New to Parley? " } }
                    <button type="button" id="auth-toggle" class="link" onclick={ontoggle}>
                        { if register { "Log in" } else { "Create an account" } }
                    </button>
                </p>
            </div>
        </main>
    }
}

/// The page shown while the session is checked at startup.
/// The chat while it asks the server whether there is a session: the same
/// card as index.html's static shell (its CSS is inline there), so the page
/// goes shell → this → the log-in card without a jump. (`#loading`, not the
/// shell's `#boot`: the shell's own id is gone once the app has mounted.)
pub fn loading_card() -> Html {
    let field = |label: &'static str| {
        html! {
            <div><span class="boot-label">{ label }</span><div class="boot-input"></div></div>
        }
    };
    html! {
        <div class="app" id="loading">
            <main class="auth" aria-busy="true">
                <div class="auth-card">
                    <div class="logo" aria-hidden="true">{ "P" }</div>
                    <h1>{ "Parley" }</h1>
                    <p class="boot-lead" role="status"><span class="boot-spinner"></span>{ "Loading Parley…" }</p>
                    <div class="boot-form" aria-hidden="true">
                        { field("User name") }
                        { field("Password") }
                        <div class="boot-button"></div>
                    </div>
                    <p class="boot-switch"></p>
                </div>
            </main>
        </div>
    }
}

pub fn splash(text: &'static str) -> Html {
    html! {
        <main class="splash" aria-busy="true">
            <div class="logo" aria-hidden="true">{ "P" }</div>
            <p>{ text }</p>
        </main>
    }
}
