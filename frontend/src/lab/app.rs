//! The root of the lab's own page (`/lab/`): checks the session like the chat
//! does, shows the same log-in form when there is none, then the lab. Leaving
//! (the "← Chat" link) is an ordinary page load of `/`.

use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use super::page::TransportLab;
use crate::api;
use crate::auth::{self, AuthProblem};
use crate::components::{AuthPage, splash};

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

#[component]
pub fn LabApp() -> Html {
    let session = use_state(|| Session::Checking);
    {
        let session = session.setter();
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
        Session::Checking => {
            html! { <div class="app">{ splash("Loading the transport lab…") }</div> }
        }
        Session::SignedIn => {
            let setter = session.setter();
            let on_logged_out =
                Callback::from(move |()| setter.set(signed_out(Some(auth::LOGGED_OUT))));
            html! { <TransportLab {on_logged_out} /> }
        }
        Session::SignedOut {
            busy,
            problem,
            notice,
        } => {
            let on_submit = {
                let setter = session.setter();
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
            html! {
                <div class="app">
                    <AuthPage
                        busy={*busy}
                        problem={problem.clone()}
                        notice={notice.map(str::to_owned)}
                        {on_submit}
                        {on_edit}
                    />
                </div>
            }
        }
    }
}
