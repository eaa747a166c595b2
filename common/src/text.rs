//! Validated text newtypes: the only way to build one is `parse`, used by both ends.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a piece of user input was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationError {
    /// Empty, or only whitespace.
    Empty,
    /// Longer than `max` characters (Unicode scalar values, not bytes).
    TooLong { max: usize },
    /// Shorter than `min` characters.
    TooShort { min: usize },
    /// Contains a control character (for message bodies: other than newline or tab).
    ControlCharacter,
    /// Contains a character this kind of text does not allow.
    InvalidCharacter(char),
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max } => write!(f, "must be at most {max} characters"),
            Self::TooShort { min } => write!(f, "must be at least {min} characters"),
            Self::ControlCharacter => f.write_str("must not contain control characters"),
            Self::InvalidCharacter(c) => write!(f, "must not contain {}", CharName(*c)),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Names a character in a message to a person: `'x'`, `a space`, and beyond
/// ASCII the character with its code point (`'é' (U+00E9)`), so that an
/// invisible one still shows. Used instead of `{:?}`, which the SPA's wasm is
/// built without (frontend/README.md, "Size"); it needs no Unicode tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharName(pub char);

impl fmt::Display for CharName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ' ' => f.write_str("a space"),
            c if c.is_ascii_graphic() => write!(f, "'{c}'"),
            c if c.is_ascii() => write!(f, "U+{:04X}", u32::from(c)),
            c => write!(f, "'{c}' (U+{:04X})", u32::from(c)),
        }
    }
}

/// Checks the length in characters, counting without allocating.
fn check_len(s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty);
    }
    if s.chars().nth(max).is_some() {
        return Err(ValidationError::TooLong { max });
    }
    Ok(())
}

/// Defines a `String` newtype that serializes as a plain JSON string and can only be
/// built (or deserialized) through its `parse` function.
macro_rules! validated_string {
    ($(#[$meta:meta])* $name:ident, $parse:expr) => {
        validated_string!($(#[$meta])* $name, $parse, wire: $parse);
    };
    // `wire`: how a value read from JSON is checked, when not as `parse` does.
    ($(#[$meta:meta])* $name:ident, $parse:expr, wire: $wire:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `input` and wraps it.
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                let parse: fn(&str) -> Result<String, ValidationError> = $parse;
                parse(input).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                let wire: fn(&str) -> Result<String, ValidationError> = $wire;
                wire(&raw).map(Self).map_err(|e| {
                    serde::de::Error::custom(format_args!("{}: {e}", stringify!($name)))
                })
            }
        }
    };
}

validated_string!(
    /// An account name: 2–32 characters of ASCII letters, digits, `_`, `-` and `.`,
    /// starting with a letter or digit. Shown as typed; unique ignoring case.
    Username,
    |input| {
        let s = input.trim();
        check_len(s, Username::MAX_CHARS)?;
        for (i, c) in s.chars().enumerate() {
            let ok = c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(if c.is_control() {
                    ValidationError::ControlCharacter
                } else {
                    ValidationError::InvalidCharacter(c)
                });
            }
        }
        if s.chars().count() < Username::MIN_CHARS {
            return Err(ValidationError::TooShort {
                min: Username::MIN_CHARS,
            });
        }
        Ok(s.to_owned())
    }
);

impl Username {
    pub const MIN_CHARS: usize = 2;
    pub const MAX_CHARS: usize = 32;

    /// The form used for uniqueness: "Alice" and "alice" are the same account.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// Unicode lower-casing, as `str::to_lowercase` does it. The rules that
/// lower-case (room names, poll options, new passwords) take it as a parameter in
/// their `…_with` forms: the browser app passes the browser's own
/// (`String.prototype.toLowerCase`, the same Unicode mapping), so its wasm does
/// not carry the standard library's case tables (~17 KB).
pub type Lowercase = fn(&str) -> String;

validated_string!(
    /// A room name: 1–32 characters of `a-z`, `0-9`, `-` and `_`, starting with a
    /// letter or digit. Input is trimmed and lower-cased, so "Lobby" names "lobby".
    RoomName,
    |input| room_name(input, str::to_lowercase),
    // On the wire names are canonical (lower-case, as the server stores and
    // sends them); a client that sends "Lobby" still means "lobby". Only ASCII
    // is lower-cased there: no valid name has anything else, and the browser
    // app, which decodes every message the server sends, then carries no
    // Unicode case tables (~17 KB of wasm).
    wire: |input| room_name(input, |s| s.to_ascii_lowercase())
);

fn room_name(input: &str, lowercase: Lowercase) -> Result<String, ValidationError> {
    let s = lowercase(input.trim());
    check_len(&s, RoomName::MAX_CHARS)?;
    for (i, c) in s.chars().enumerate() {
        let ok = c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && (c == '-' || c == '_'));
        if !ok {
            return Err(if c.is_control() {
                ValidationError::ControlCharacter
            } else {
                ValidationError::InvalidCharacter(c)
            });
        }
    }
    Ok(s)
}

impl RoomName {
    pub const MAX_CHARS: usize = 32;

    /// [`RoomName::parse`], lower-casing with `lowercase`.
    pub fn parse_with(input: &str, lowercase: Lowercase) -> Result<Self, ValidationError> {
        room_name(input, lowercase).map(Self)
    }

    /// The room every connection starts in.
    pub fn lobby() -> Self {
        Self(crate::LOBBY.to_owned())
    }
}

validated_string!(
    /// A chat message body: 1–4,000 characters, not only whitespace, no control
    /// characters except newline and tab. Kept exactly as typed.
    MessageBody,
    |input| {
        if input.trim().is_empty() {
            return Err(ValidationError::Empty);
        }
        check_len(input, MessageBody::MAX_CHARS)?;
        if input.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ValidationError::ControlCharacter);
        }
        Ok(input.to_owned())
    }
);

impl MessageBody {
    pub const MAX_CHARS: usize = 4000;
}

validated_string!(
    /// A client-generated message id: 1–64 characters of ASCII letters, digits, `-`
    /// and `_`. Together with the sender it makes a send idempotent.
    ClientMsgId,
    |input| {
        check_len(input, ClientMsgId::MAX_CHARS)?;
        match input
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            Some(c) if c.is_control() => Err(ValidationError::ControlCharacter),
            Some(c) => Err(ValidationError::InvalidCharacter(c)),
            None => Ok(input.to_owned()),
        }
    }
);

impl ClientMsgId {
    pub const MAX_CHARS: usize = 64;
}

/// A password as typed at login: 1–128 characters. Never printed: its `Debug`
/// hides it, it has no `Display`, and it is not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Why a new password is refused at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    /// Long enough, but trivially guessable (a common password, the user name, one
    /// repeated character).
    Weak,
}

impl fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { min } => write!(f, "password must be at least {min} characters"),
            Self::TooLong { max } => write!(f, "password must be at most {max} characters"),
            Self::Weak => f.write_str(
                "password is too easy to guess: avoid common passwords, your user name and repeated characters",
            ),
        }
    }
}

/// Passwords people pick first; refused at registration.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyui",
    "qwertyuiop",
    "iloveyou",
    "11111111",
    "00000000",
    "abcdefgh",
    "abc12345",
    "letmein1",
    "welcome1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "trustno1",
    "passw0rd",
    "p@ssw0rd",
    "changeme",
    "parley123",
];

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Accepts any password a login form may carry (bounded, so hashing stays cheap).
    pub fn parse(input: &str) -> Result<Self, PasswordProblem> {
        if input.is_empty() {
            return Err(PasswordProblem::TooShort { min: 1 });
        }
        if input.chars().nth(Self::MAX_CHARS).is_some() {
            return Err(PasswordProblem::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(input.to_owned()))
    }

    /// The stricter rules for a new password of account `user`.
    pub fn parse_new(input: &str, user: &str) -> Result<Self, PasswordProblem> {
        Self::parse_new_with(input, user, str::to_lowercase)
    }

    /// [`Password::parse_new`], lower-casing with `lowercase`.
    pub fn parse_new_with(
        input: &str,
        user: &str,
        lowercase: Lowercase,
    ) -> Result<Self, PasswordProblem> {
        let password = Self::parse(input)?;
        if input.chars().count() < Self::MIN_CHARS {
            return Err(PasswordProblem::TooShort {
                min: Self::MIN_CHARS,
            });
        }
        let lower = lowercase(input);
        let mut chars = input.chars();
        let first = chars.next();
        if COMMON_PASSWORDS.contains(&lower.as_str())
            || lower.contains(&lowercase(user))
            || chars.all(|c| Some(c) == first)
        {
            return Err(PasswordProblem::Weak);
        }
        Ok(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_is_named_visibly() {
        let name = |c| CharName(c).to_string();
        assert_eq!(name('!'), "'!'");
        assert_eq!(name(' '), "a space");
        assert_eq!(name('\u{7}'), "U+0007");
        assert_eq!(name('é'), "'é' (U+00E9)");
        assert_eq!(name('\u{200B}'), "'\u{200B}' (U+200B)");
        assert_eq!(
            ValidationError::InvalidCharacter('/').to_string(),
            "must not contain '/'"
        );
    }

    #[test]
    fn username_is_trimmed_and_restricted() {
        assert_eq!(Username::parse("  Alice ").unwrap().as_str(), "Alice");
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
        assert_eq!(Username::parse("   "), Err(ValidationError::Empty));
        assert_eq!(
            Username::parse("a"),
            Err(ValidationError::TooShort { min: 2 })
        );
        assert!(Username::parse("bob.smith-2_x").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert_eq!(
            Username::parse(&"a".repeat(33)),
            Err(ValidationError::TooLong { max: 32 })
        );
        assert_eq!(
            Username::parse("a\u{7}b"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(
            Username::parse("Zoë"),
            Err(ValidationError::InvalidCharacter('ë'))
        );
        assert_eq!(
            Username::parse("_x"),
            Err(ValidationError::InvalidCharacter('_'))
        );
    }

    #[test]
    fn room_name_is_normalised_and_restricted() {
        assert_eq!(RoomName::parse(" Lobby ").unwrap(), RoomName::lobby());
        assert!(RoomName::parse("rust-users_2").is_ok());
        assert_eq!(
            RoomName::parse("-x"),
            Err(ValidationError::InvalidCharacter('-'))
        );
        assert_eq!(
            RoomName::parse("a b"),
            Err(ValidationError::InvalidCharacter(' '))
        );
        assert_eq!(
            RoomName::parse(&"a".repeat(33)),
            Err(ValidationError::TooLong { max: 32 })
        );
    }

    #[test]
    fn the_with_forms_lower_case_with_the_function_given() {
        let upper: Lowercase = |s| s.to_uppercase();
        assert_eq!(
            RoomName::parse_with("Lobby", str::to_lowercase),
            Ok(RoomName::lobby())
        );
        // The function is what lower-cases: here it does not, so "LOBBY" is refused.
        assert_eq!(
            RoomName::parse_with("lobby", upper),
            Err(ValidationError::InvalidCharacter('L'))
        );
        // The Kelvin sign lower-cases to an ASCII "k".
        assert_eq!(RoomName::parse("\u{212a}ey").unwrap().as_str(), "key");
        assert_eq!(
            Password::parse_new_with("alice-rules", "Alice", str::to_lowercase),
            Err(PasswordProblem::Weak)
        );
        assert!(Password::parse_new_with("ALICE-rules", "alice", |s| s.to_owned()).is_ok());
    }

    #[test]
    fn body_keeps_newlines_and_rejects_other_controls() {
        let body = MessageBody::parse("line one\n\tline two ").unwrap();
        assert_eq!(body.as_str(), "line one\n\tline two ");
        assert_eq!(MessageBody::parse(" \n "), Err(ValidationError::Empty));
        assert_eq!(
            MessageBody::parse("a\u{0}b"),
            Err(ValidationError::ControlCharacter)
        );
        assert!(MessageBody::parse(&"x".repeat(4000)).is_ok());
        assert_eq!(
            MessageBody::parse(&"x".repeat(4001)),
            Err(ValidationError::TooLong { max: 4000 })
        );
    }

    #[test]
    fn client_msg_id_is_url_safe() {
        assert!(ClientMsgId::parse("c-01HZX_9").is_ok());
        assert_eq!(ClientMsgId::parse(""), Err(ValidationError::Empty));
        assert_eq!(
            ClientMsgId::parse("a/b"),
            Err(ValidationError::InvalidCharacter('/'))
        );
        assert_eq!(
            ClientMsgId::parse(&"a".repeat(65)),
            Err(ValidationError::TooLong { max: 64 })
        );
    }

    #[test]
    fn passwords_are_bounded_and_new_ones_not_trivial() {
        assert!(Password::parse("x").is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(129)),
            Err(PasswordProblem::TooLong { max: 128 })
        );
        assert_eq!(
            Password::parse_new("short", "alice"),
            Err(PasswordProblem::TooShort { min: 8 })
        );
        assert_eq!(
            Password::parse_new("Password", "alice"),
            Err(PasswordProblem::Weak)
        );
        assert_eq!(
            Password::parse_new("aaaaaaaaaa", "bob"),
            Err(PasswordProblem::Weak)
        );
        assert_eq!(
            Password::parse_new("alice-rules", "Alice"),
            Err(PasswordProblem::Weak)
        );
        assert!(Password::parse_new("correct horse battery", "alice").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("hunter22").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn deserializing_validates() {
        let err = serde_json::from_str::<Username>("\"\"").unwrap_err();
        assert!(
            err.to_string().contains("Username: must not be empty"),
            "{err}"
        );
        let ok: RoomName = serde_json::from_str("\"Lobby\"").unwrap();
        assert_eq!(ok.as_str(), "lobby");
        // On the wire only ASCII is lower-cased: the Kelvin sign, which
        // Unicode lower-cases to "k", is a name only when typed.
        assert_eq!(RoomName::parse("\u{212A}").unwrap().as_str(), "k");
        let err = serde_json::from_str::<RoomName>("\"\u{212A}\"").unwrap_err();
        assert!(err.to_string().contains("RoomName"), "{err}");
    }
}
