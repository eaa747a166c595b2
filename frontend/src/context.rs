//! What the whole signed-in app shares, handed down by one
//! `ContextProvider<AppContext>` at the root instead of props threaded through
//! every level: who is logged in, and the way to ask for anything (an
//! [`Action`] for the app's reducer, which queues what goes to the server on
//! whatever connection is open). Components keep taking their data as props.

use parley_common::Username;
use yew::prelude::*;

use crate::state::{Action, same_user};

#[derive(Clone, PartialEq, Default)]
pub struct AppContext {
    /// Who is logged in, from the session (the server is the authority); `None`
    /// only outside the signed-in app.
    pub me: Option<Username>,
    /// Hands an action to the app's reducer.
    pub act: Callback<Action>,
}

impl AppContext {
    /// Whether `user` is the one logged in (names compare case-insensitively).
    pub fn is_me(&self, user: &Username) -> bool {
        self.me.as_ref().is_some_and(|me| same_user(me, user))
    }
}

/// The app's shared context; outside a provider (a component rendered alone),
/// nobody is logged in and actions go nowhere.
#[hook]
pub fn use_app() -> AppContext {
    use_context::<AppContext>().unwrap_or_default()
}
