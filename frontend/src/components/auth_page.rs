//! The first screen without a session: one form that logs in or creates an
//! account, with the server's rules checked before anything is sent.

use parley_common::Credentials;
use web_sys::{HtmlInputElement, InputEvent, MouseEvent};

use crate::auth::{self, AuthField, AuthMode, AuthProblem, FieldErrors};
use crate::ui::{Callback, Html, Node, NodeRef, h, use_node_ref, use_state};

#[derive(Clone, PartialEq)]
pub struct AuthPageProps {
    /// A request is on its way: the submit button waits.
    pub busy: bool,
    /// Why the server refused the last attempt.
    pub problem: Option<AuthProblem>,
    /// Why the user is here (e.g. "You were logged out.").
    pub notice: Option<String>,
    /// Called with valid credentials.
    pub on_submit: Callback<(AuthMode, Credentials)>,
    /// The user changed something: the server's complaint no longer applies.
    pub on_edit: Callback<()>,
}

pub fn auth_page(props: &AuthPageProps) -> Html {
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
        Callback::from(move |()| {
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

    let name_message = match &name_error {
        Some(message) => h("p")
            .class("field-error")
            .id("auth-name-error")
            .text(message.clone())
            .into(),
        None if register => h("p")
            .class("hint")
            .id("auth-name-hint")
            .text("2–32 letters, digits, _ - or .")
            .into(),
        None => Node::Empty,
    };
    let password_message = match &password_error {
        Some(message) => h("p")
            .class("field-error")
            .id("auth-password-error")
            .text(message.clone())
            .into(),
        None if register => h("p")
            .class("hint")
            .id("auth-password-hint")
            .text("At least 8 characters; not a common password, not your user name.")
            .into(),
        None => Node::Empty,
    };

    h("main")
        .class("auth")
        .child(
            h("div")
                .class("auth-card")
                .child(h("div").class("logo").attr("aria-hidden", "true").text("P"))
                .child(h("h1").text(if register {
                    "Create your account"
                } else {
                    "Log in to Parley"
                }))
                .child(h("p").class("lead").text(if register {
                    "Pick a user name and a password to start chatting."
                } else {
                    "Welcome back. Your rooms and their history are waiting."
                }))
                .child(props.notice.as_ref().map(|notice| {
                    h("p")
                        .class("auth-notice")
                        .attr("role", "status")
                        .text(notice.clone())
                }))
                .child(
                    h("form")
                        .id("auth-form")
                        .attr("data-mode", mode.as_str())
                        .onsubmit(onsubmit)
                        .flag("novalidate", true)
                        .attr("aria-busy", props.busy.to_string())
                        .child(
                            h("div")
                                .class("field")
                                .child(h("label").attr("for", "auth-name").text("User name"))
                                .child(
                                    h("input")
                                        .id("auth-name")
                                        .node_ref(&name)
                                        .attr("type", "text")
                                        .attr("name", "username")
                                        .attr("autocomplete", "username")
                                        .attr("autocapitalize", "none")
                                        .attr("spellcheck", "false")
                                        .flag("autofocus", true)
                                        .attr("aria-invalid", name_error.is_some().to_string())
                                        .attr_opt(
                                            "aria-describedby",
                                            described(
                                                name_error.is_some(),
                                                "auth-name-error",
                                                Some("auth-name-hint"),
                                            ),
                                        )
                                        .oninput(edited(AuthField::Name)),
                                )
                                .child(name_message),
                        )
                        .child(
                            h("div")
                                .class("field")
                                .child(h("label").attr("for", "auth-password").text("Password"))
                                .child(
                                    h("input")
                                        .id("auth-password")
                                        .node_ref(&password)
                                        .attr("type", "password")
                                        .attr("name", "password")
                                        .attr(
                                            "autocomplete",
                                            if register {
                                                "new-password"
                                            } else {
                                                "current-password"
                                            },
                                        )
                                        .attr("aria-invalid", password_error.is_some().to_string())
                                        .attr_opt(
                                            "aria-describedby",
                                            described(
                                                password_error.is_some(),
                                                "auth-password-error",
                                                Some("auth-password-hint"),
                                            ),
                                        )
                                        .oninput(edited(AuthField::Password)),
                                )
                                .child(password_message),
                        )
                        .child(form_error.map(|message| {
                            h("p")
                                .class("field-error form-error")
                                .id("auth-error")
                                .attr("role", "alert")
                                .text(message)
                        }))
                        .child(
                            h("button")
                                .attr("type", "submit")
                                .id("auth-submit")
                                .class("primary")
                                .flag("disabled", props.busy)
                                .text(match (register, props.busy) {
                                    (false, false) => "Log in",
                                    (false, true) => "Logging in…",
                                    (true, false) => "Create account",
                                    (true, true) => "Creating account…",
                                }),
                        ),
                )
                .child(
                    h("p")
                        .class("auth-switch")
                        .text(if register {
                            "Already have an account? "
                        } else {
                            "New to Parley? "
                        })
                        .child(
                            h("button")
                                .attr("type", "button")
                                .id("auth-toggle")
                                .class("link")
                                .onclick(ontoggle)
                                .text(if register {
                                    "Log in"
                                } else {
                                    "Create an account"
                                }),
                        ),
                ),
        )
        .into()
}

/// The page shown while the session is checked at startup.
pub fn splash(text: &'static str) -> Html {
    h("main")
        .class("splash")
        .attr("aria-busy", "true")
        .child(h("div").class("logo").attr("aria-hidden", "true").text("P"))
        .child(h("p").text(text))
        .into()
}
