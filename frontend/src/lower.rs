//! The protocol's rules that lower-case — room names, poll options (told apart
//! ignoring case), new passwords — with the browser's lower-casing.
//!
//! `RoomName::parse`, `PollSpec::parse` and `Password::parse_new` lower-case with
//! `str::to_lowercase`, whose Unicode tables are about 17 KB of the wasm
//! (8.5 KB gzipped). The app calls their `…_with` forms with [`lowercase`]
//! instead: in the browser that is `String.prototype.toLowerCase`, the same
//! Unicode lower-case mapping (final sigma included), so the rules decide as the
//! server's do. Natively (the unit tests) it is `str::to_lowercase` itself.

use parley_common::{Password, PasswordProblem, PollProblem, PollSpec, RoomName, ValidationError};

/// `s` lower-cased as `str::to_lowercase` does it.
#[cfg(target_arch = "wasm32")]
pub fn lowercase(s: &str) -> String {
    String::from(js_sys::JsString::from(s).to_lower_case())
}

/// `s` lower-cased as `str::to_lowercase` does it.
#[cfg(not(target_arch = "wasm32"))]
pub fn lowercase(s: &str) -> String {
    s.to_lowercase()
}

/// `RoomName::parse`.
pub fn room_name(input: &str) -> Result<RoomName, ValidationError> {
    RoomName::parse_with(input, lowercase)
}

/// `PollSpec::parse`.
pub fn poll_spec(question: &str, options: &[String]) -> Result<PollSpec, PollProblem> {
    PollSpec::parse_with(question, options, lowercase)
}

/// `Password::parse_new`.
pub fn new_password(input: &str, user: &str) -> Result<Password, PasswordProblem> {
    Password::parse_new_with(input, user, lowercase)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_rules_are_the_protocol_crates() {
        for name in ["Lobby", " rust-2 ", "\u{212a}elvin", "İ", "a b", "-x", ""] {
            assert_eq!(room_name(name), RoomName::parse(name), "{name:?}");
        }
        let options = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for list in [&["Ärger", "ärger"][..], &["ΣΑΣ", "σας"], &["a", "b"]] {
            assert_eq!(
                poll_spec("q", &options(list)),
                PollSpec::parse("q", &options(list))
            );
        }
        for (password, user) in [
            ("Password", "x"),
            ("ALICE-rules", "alice"),
            ("fine horse", "x"),
        ] {
            assert_eq!(
                new_password(password, user),
                Password::parse_new(password, user)
            );
        }
    }
}
