//! Decoding client frames into [`ClientMsg`], with a typed error for every way a
//! frame can be wrong.

use std::fmt;

use serde_json::Value;

use crate::msg::{ClientMsg, ErrorCode, ServerMsg};
use crate::text::{ClientMsgId, MessageBody, RoomName, Username, ValidationError};

/// Why a client frame was rejected, ready to be sent back as an `error` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `client_id`, when it had a valid one, so the client can tell which
    /// of its messages failed.
    pub client_id: Option<ClientMsgId>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            client_id: None,
        }
    }

    pub fn with_client_id(mut self, client_id: Option<ClientMsgId>) -> Self {
        self.client_id = client_id;
        self
    }

    pub fn to_server_msg(&self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// Decodes one text frame from a client.
///
/// The happy path is a single serde pass. Only when it fails is the frame looked at
/// again, to say precisely what is wrong (bad JSON, unknown type, which field is
/// invalid) and to recover the `client_id` the error belongs to.
pub fn decode_client(text: &str) -> Result<ClientMsg, ProtocolError> {
    serde_json::from_str(text).map_err(|err| diagnose(text, &err))
}

fn diagnose(text: &str, serde_err: &serde_json::Error) -> ProtocolError {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return ProtocolError::new(
            ErrorCode::BadMessage,
            "expected a JSON object with a \"type\" field",
        );
    };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return ProtocolError::new(ErrorCode::BadMessage, "missing string field \"type\"");
    };
    if !ClientMsg::TYPES.contains(&kind) {
        return ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown message type {kind:?}"),
        );
    }
    let client_id = obj
        .get("client_id")
        .and_then(Value::as_str)
        .and_then(|s| ClientMsgId::parse(s).ok());

    // A known type failed to decode: find the first validated field that is wrong.
    type Check = fn(&str) -> Result<(), (ErrorCode, ValidationError)>;
    let checks: [(&str, Check); 4] = [
        ("dm", |s| {
            Username::parse(s)
                .map(drop)
                .map_err(|e| (ErrorCode::InvalidName, e))
        }),
        ("room", |s| {
            RoomName::parse(s)
                .map(drop)
                .map_err(|e| (ErrorCode::InvalidRoomName, e))
        }),
        ("client_id", |s| {
            ClientMsgId::parse(s)
                .map(drop)
                .map_err(|e| (ErrorCode::InvalidClientId, e))
        }),
        ("body", |s| {
            MessageBody::parse(s).map(drop).map_err(|e| {
                let code = match e {
                    ValidationError::Empty => ErrorCode::EmptyBody,
                    ValidationError::TooLong { .. } => ErrorCode::BodyTooLong,
                    ValidationError::TooShort { .. }
                    | ValidationError::ControlCharacter
                    | ValidationError::InvalidCharacter(_) => ErrorCode::InvalidBody,
                };
                (code, e)
            })
        }),
    ];
    for (field, check) in checks {
        if let Some(s) = obj.get(field).and_then(Value::as_str)
            && let Err((code, e)) = check(s)
        {
            return ProtocolError::new(code, format!("{field} {e}")).with_client_id(client_id);
        }
    }
    ProtocolError::new(
        ErrorCode::BadMessage,
        format!("bad {kind:?} message: {serde_err}"),
    )
    .with_client_id(client_id)
}
