//! The log-in / create-account form's rules: the same validation as the server
//! (`Username::parse`, `Password::parse[_new]`) and the mapping of the server's
//! answers to inline errors. Pure, so it is unit-tested natively.

use parley_common::{
    ApiError, CharName, Credentials, ErrorCode, Password, PasswordProblem, Username,
    ValidationError,
};

/// Which form is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Login,
    Register,
}

impl AuthMode {
    /// The `data-mode` attribute of `#auth-form`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
        }
    }

    pub fn toggled(self) -> Self {
        match self {
            Self::Login => Self::Register,
            Self::Register => Self::Login,
        }
    }
}

/// Where an error is shown: under a field, or for the whole form (`#auth-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthField {
    Name,
    Password,
    Form,
}

/// One error to show on the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthProblem {
    pub field: AuthField,
    pub text: String,
}

impl AuthProblem {
    pub fn new(field: AuthField, text: impl Into<String>) -> Self {
        Self {
            field,
            text: text.into(),
        }
    }

    pub fn form(text: impl Into<String>) -> Self {
        Self::new(AuthField::Form, text)
    }
}

/// What the browser found wrong before asking the server: at most one error per field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldErrors {
    pub name: Option<String>,
    pub password: Option<String>,
}

/// Checks the form with the server's rules; the credentials to send when all is well.
pub fn validate(mode: AuthMode, name: &str, password: &str) -> Result<Credentials, FieldErrors> {
    let user = Username::parse(name);
    let pass = match mode {
        AuthMode::Login => Password::parse(password),
        // Without a valid name, the "contains the user name" rule compares with what
        // was typed, as the server would.
        AuthMode::Register => crate::lower::new_password(password, name.trim()),
    };
    match (user, pass) {
        (Ok(user), Ok(_)) => Ok(Credentials {
            name: user.as_str().to_owned(),
            password: password.to_owned(),
        }),
        (user, pass) => Err(FieldErrors {
            name: user.err().map(|e| name_error_text(&e)),
            password: pass.err().map(|p| password_error_text(mode, p)),
        }),
    }
}

/// What to say about a user name the rules refuse.
pub fn name_error_text(err: &ValidationError) -> String {
    match err {
        ValidationError::Empty => "Enter your user name.".into(),
        ValidationError::TooShort { min } => {
            format!("A user name has at least {min} characters.")
        }
        ValidationError::TooLong { max } => format!("A user name has at most {max} characters."),
        ValidationError::ControlCharacter => {
            "A user name cannot contain control characters.".into()
        }
        ValidationError::InvalidCharacter('_' | '-' | '.') => {
            "A user name starts with a letter or a digit.".into()
        }
        ValidationError::InvalidCharacter(c) => {
            format!(
                "A user name can only use letters, digits and _ - . (not {}).",
                CharName(*c)
            )
        }
    }
}

/// What to say about a password the rules refuse.
pub fn password_error_text(mode: AuthMode, problem: PasswordProblem) -> String {
    match (mode, problem) {
        (AuthMode::Login, PasswordProblem::TooShort { .. }) => "Enter your password.".into(),
        (AuthMode::Register, PasswordProblem::TooShort { min }) => {
            format!("Use at least {min} characters.")
        }
        (_, PasswordProblem::TooLong { max }) => format!("Use at most {max} characters."),
        (_, PasswordProblem::Weak) => {
            "Too easy to guess: avoid common passwords, your user name and repeated characters."
                .into()
        }
    }
}

/// Why a request to the account API did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFailure {
    /// The server answered with an error body.
    Api { status: u16, error: ApiError },
    /// The server answered something unexpected (no JSON error body).
    Status(u16),
    /// No answer at all (offline, server down).
    Network(String),
}

/// Shown on the log-in page when the session check at startup got no answer.
pub const UNREACHABLE: &str = "Cannot reach the server. Reload the page to try again.";
/// Shown on the log-in page when the session was logged out (another tab).
pub const LOGGED_OUT: &str = "You were logged out.";

/// Where and how the form shows a failed log-in or registration.
pub fn auth_problem(failure: &ApiFailure) -> AuthProblem {
    let error = match failure {
        ApiFailure::Api { error, .. } => error,
        ApiFailure::Status(status) => {
            return AuthProblem::form(format!(
                "The server could not handle the request ({status}). Try again in a moment."
            ));
        }
        ApiFailure::Network(_) => {
            return AuthProblem::form(
                "Cannot reach the server. Check your connection and try again.",
            );
        }
    };
    match error.code {
        ErrorCode::InvalidName => AuthProblem::new(AuthField::Name, error.message.clone()),
        ErrorCode::WeakPassword | ErrorCode::PasswordTooLong => {
            AuthProblem::new(AuthField::Password, error.message.clone())
        }
        ErrorCode::InvalidCredentials => AuthProblem::form("Wrong user name or password."),
        ErrorCode::NameTaken => {
            AuthProblem::form("That user name is taken. Pick another one, or log in.")
        }
        ErrorCode::RateLimited => {
            AuthProblem::form("Too many attempts. Wait a minute, then try again.")
        }
        ErrorCode::ForbiddenOrigin => {
            AuthProblem::form("This page is not allowed to log in here. Open Parley directly.")
        }
        ErrorCode::BadJson
        | ErrorCode::BadMessage
        | ErrorCode::UnknownType
        | ErrorCode::UnsupportedVersion
        | ErrorCode::HelloRequired
        | ErrorCode::AlreadyGreeted
        | ErrorCode::InvalidRoomName
        | ErrorCode::InvalidClientId
        | ErrorCode::EmptyBody
        | ErrorCode::BodyTooLong
        | ErrorCode::InvalidBody
        | ErrorCode::NotInRoom
        | ErrorCode::UnknownUser
        | ErrorCode::CannotMessageSelf
        | ErrorCode::BadReadMarker
        | ErrorCode::NoSuchRoom
        | ErrorCode::RoomExists
        | ErrorCode::InvalidQuestion
        | ErrorCode::TooFewOptions
        | ErrorCode::TooManyOptions
        | ErrorCode::InvalidOption
        | ErrorCode::DuplicateOption
        | ErrorCode::NoSuchPoll
        | ErrorCode::NoSuchOption
        | ErrorCode::PollClosed
        | ErrorCode::NotPollCreator
        | ErrorCode::Unauthorized
        | ErrorCode::RequestPending
        | ErrorCode::TooManyConnections
        | ErrorCode::ServerBusy
        | ErrorCode::UnknownConnection
        | ErrorCode::TooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::Internal => AuthProblem::form(error.message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: ErrorCode, message: &str) -> ApiFailure {
        ApiFailure::Api {
            status: 400,
            error: ApiError {
                code,
                message: message.into(),
            },
        }
    }

    #[test]
    fn valid_forms_give_trimmed_credentials() {
        let creds = validate(AuthMode::Register, " Alice ", "correct horse").unwrap();
        assert_eq!(creds.name, "Alice");
        assert_eq!(creds.password, "correct horse");
        // Logging in accepts any non-empty password: the server decides.
        assert!(validate(AuthMode::Login, "alice", "x").is_ok());
    }

    #[test]
    fn each_field_gets_its_own_error() {
        let errors = validate(AuthMode::Login, "", "").unwrap_err();
        assert_eq!(errors.name.as_deref(), Some("Enter your user name."));
        assert_eq!(errors.password.as_deref(), Some("Enter your password."));

        let errors = validate(AuthMode::Register, "a", "short").unwrap_err();
        assert!(errors.name.unwrap().contains("at least 2"));
        assert!(errors.password.unwrap().contains("at least 8"));

        let errors = validate(AuthMode::Register, "bob", "bobbobbob1").unwrap_err();
        assert_eq!(errors.name, None);
        assert!(errors.password.unwrap().contains("easy to guess"));

        let errors = validate(AuthMode::Register, "Zoë", "correct horse").unwrap_err();
        assert!(errors.name.unwrap().contains("'ë'"));
        assert_eq!(errors.password, None);

        let errors = validate(AuthMode::Login, "_x", "pw").unwrap_err();
        assert!(errors.name.unwrap().contains("starts with"));
    }

    #[test]
    fn server_errors_land_on_the_right_field() {
        let field = |f: &ApiFailure| auth_problem(f).field;
        assert_eq!(field(&api(ErrorCode::InvalidName, "bad")), AuthField::Name);
        assert_eq!(
            field(&api(ErrorCode::WeakPassword, "weak")),
            AuthField::Password
        );
        assert_eq!(
            field(&api(ErrorCode::PasswordTooLong, "long")),
            AuthField::Password
        );
        for code in [
            ErrorCode::InvalidCredentials,
            ErrorCode::NameTaken,
            ErrorCode::RateLimited,
            ErrorCode::ForbiddenOrigin,
            ErrorCode::Internal,
        ] {
            assert_eq!(field(&api(code, "x")), AuthField::Form, "{code:?}");
        }
        assert_eq!(
            auth_problem(&api(ErrorCode::InvalidCredentials, "invalid credentials")).text,
            "Wrong user name or password."
        );
        // The server's own words are used where they are the best explanation.
        assert_eq!(
            auth_problem(&api(ErrorCode::InvalidName, "name too short")).text,
            "name too short"
        );
        assert_eq!(
            auth_problem(&ApiFailure::Network("offline".into())).field,
            AuthField::Form
        );
        assert!(auth_problem(&ApiFailure::Status(502)).text.contains("502"));
    }

    #[test]
    fn modes_toggle() {
        assert_eq!(AuthMode::default().as_str(), "login");
        assert_eq!(AuthMode::Login.toggled(), AuthMode::Register);
        assert_eq!(AuthMode::Register.toggled().as_str(), "login");
    }
}
