//! Who is there: the people online in a room (in the top bar) and who is typing
//! (under the messages).

use std::rc::Rc;

use parley_common::Username;
use yew::prelude::*;

use crate::context::use_app;

/// A colour (hue, 0–359) of one's own for each user, the same everywhere.
pub fn hue(user: &Username) -> u32 {
    user.key()
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360
}

/// The first letter of a name, upper-cased, for an avatar.
pub fn initial(user: &Username) -> String {
    user.as_str()
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_default()
}

/// "Alice is typing…", "Alice and Bob are typing…", … ("" for nobody).
pub fn typing_text(names: &[Username]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [one, two] => format!("{one} and {two} are typing…"),
        [one, two, three] => format!("{one}, {two} and {three} are typing…"),
        _ => "Several people are typing…".to_owned(),
    }
}

#[derive(Properties, PartialEq)]
pub struct TypingIndicatorProps {
    /// Who is typing, oldest signal first.
    pub names: Vec<Username>,
}

/// Always there (so the layout does not jump), empty when nobody types.
#[component]
pub fn TypingIndicator(props: &TypingIndicatorProps) -> Html {
    let text = typing_text(&props.names);
    html! {
        <div id="typing-indicator" class="typing-indicator" aria-live="polite">
            if !text.is_empty() {
                <span class="typing-dots" aria-hidden="true"><span></span><span></span><span></span></span>
                <span class="typing-text">{ text }</span>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct OnlineUsersProps {
    /// Who is online, sorted by name (the user included).
    pub users: Rc<Vec<Username>>,
    /// How many are online in all (`users` lists only the first 100 of a busy
    /// room); at least `users.len()`.
    #[prop_or_default]
    pub total: u64,
}

/// "3 online" and a face per person (the first few; the count says the rest);
/// the logged-in user ([`AppContext`](crate::context::AppContext)) is "you".
#[component]
pub fn OnlineUsers(props: &OnlineUsersProps) -> Html {
    let app = use_app();
    let count = props.total.max(props.users.len() as u64);
    let is_me = |u: &Username| app.is_me(u);
    let names: Vec<String> = props
        .users
        .iter()
        .map(|u| {
            if is_me(u) {
                format!("{u} (you)")
            } else {
                u.to_string()
            }
        })
        .collect();
    let others = count.saturating_sub(names.len() as u64);
    let title = match (names.is_empty(), others) {
        (true, _) => "Nobody online".to_owned(),
        (false, 0) => format!("Online: {}", names.join(", ")),
        (false, n) => format!("{count} online: {} and {n} more", names.join(", ")),
    };
    let users = props.users.iter().map(|u| {
        html! {
            <span key={u.key()} class={classes!("online-user", is_me(u).then_some("me"))}
                data-initial={initial(u)} style={format!("--hue:{}", hue(u))} title={u.to_string()}>
                { u.as_str() }
            </span>
        }
    });
    html! {
        <div id="online-users" class="online-users" role="group" aria-label={title.clone()} {title}>
            <span class="online-faces">{ for users }</span>
            <span class="online-count" aria-hidden="true">{ format!("{count} online") }</span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<Username> {
        list.iter().map(|n| Username::parse(n).unwrap()).collect()
    }

    #[test]
    fn typing_text_names_up_to_three() {
        assert_eq!(typing_text(&[]), "");
        assert_eq!(typing_text(&names(&["Alice"])), "Alice is typing…");
        assert_eq!(
            typing_text(&names(&["Alice", "Bob"])),
            "Alice and Bob are typing…"
        );
        assert_eq!(
            typing_text(&names(&["Alice", "Bob", "Carol"])),
            "Alice, Bob and Carol are typing…"
        );
        assert_eq!(
            typing_text(&names(&["Alice", "Bob", "Carol", "Dan"])),
            "Several people are typing…"
        );
    }
}
