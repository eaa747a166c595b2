//! The root of the lab's own page (`/lab/`): checks the session like the chat
//! does, shows the same log-in form when there is none, then the lab. Leaving
//! (the "← Chat" link) is an ordinary page load of `/`.

use wasm_bindgen_futures::spawn_local;

use super::page::{TransportLabProps, transport_lab};
use crate::api;
use crate::auth::{self, AuthProblem};
use crate::components::{AuthPageProps, auth_page, splash};
use crate::ui::{Callback, Html, comp, h, use_effect_with, use_state};

/// Where the page is with the session.
#[derive(Debug, Clone, PartialEq)]
enum Session {
    Checking,
    SignedOut {
        /// A log-in or registration request is on its way.
        busy: bool,
        problem: Option<AuthProblem>,
        notice: Option<&'static str>,
    },
    SignedIn,
}

fn signed_out(notice: Option<&'static str>) -> Session {
    Session::SignedOut {
        busy: false,
        problem: None,
        notice,
    }
}

/// The lab's page (it has no props: `()`).
pub fn lab_app(_: &()) -> Html {
    let session = use_state(|| Session::Checking);
    {
        let session = session.clone();
        use_effect_with((), move |()| {
            spawn_local(async move {
                session.set(match api::me().await {
                    Ok(Some(_)) => Session::SignedIn,
                    Ok(None) => signed_out(Some("Log in to open the transport lab.")),
                    Err(_) => signed_out(Some(auth::UNREACHABLE)),
                });
            });
        });
    }
    match &*session {
        Session::Checking => h("div")
            .class("app")
            .child(splash("Loading the transport lab…"))
            .into(),
        Session::SignedIn => {
            let setter = session.clone();
            let on_logged_out =
                Callback::from(move |()| setter.set(signed_out(Some(auth::LOGGED_OUT))));
            comp(transport_lab, TransportLabProps { on_logged_out })
        }
        Session::SignedOut {
            busy,
            problem,
            notice,
        } => {
            let on_submit = {
                let setter = session.clone();
                Callback::from(move |(mode, credentials)| {
                    setter.set(Session::SignedOut {
                        busy: true,
                        problem: None,
                        notice: None,
                    });
                    let setter = setter.clone();
                    spawn_local(async move {
                        setter.set(match api::sign_in(mode, &credentials).await {
                            Ok(_) => Session::SignedIn,
                            Err(failure) => Session::SignedOut {
                                busy: false,
                                problem: Some(auth::auth_problem(&failure)),
                                notice: None,
                            },
                        });
                    });
                })
            };
            // Typing hides the server's answer to the last attempt.
            let on_edit = {
                let session = session.clone();
                Callback::from(move |()| {
                    if let Session::SignedOut {
                        busy,
                        problem: Some(_),
                        notice,
                    } = &*session
                    {
                        session.set(Session::SignedOut {
                            busy: *busy,
                            problem: None,
                            notice: *notice,
                        });
                    }
                })
            };
            h("div")
                .class("app")
                .child(comp(
                    auth_page,
                    AuthPageProps {
                        busy: *busy,
                        problem: problem.clone(),
                        notice: notice.map(str::to_owned),
                        on_submit,
                        on_edit,
                    },
                ))
                .into()
        }
    }
}
