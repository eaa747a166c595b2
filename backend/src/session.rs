//! One client's session, independent of the transport that carries it.
//!
//! A transport hands every decoded frame to [`Session::handle_text`]; everything the
//! session says back (welcome, acks, errors) goes through the connection's outbox, in
//! order with the broadcasts the hub puts there. The session is the authority on who
//! the client is: the sender of a message comes from here, never from the payload.

use std::collections::HashSet;

use parley_common::{
    ClientMsg, ClientMsgId, ErrorCode, MessageBody, PROTOCOL_VERSION, ProtocolError, RoomName,
    ServerMsg, Username, decode_client,
};

use crate::hub::{ConnId, Hub};
use crate::outbox::{Frame, Outbox};

#[derive(Debug)]
pub struct Session {
    id: ConnId,
    hub: Hub,
    outbox: Outbox,
    /// Set by `hello`; nothing but `hello` is accepted before.
    name: Option<Username>,
    rooms: HashSet<RoomName>,
}

impl Session {
    pub fn new(hub: Hub, outbox: Outbox) -> Self {
        Self {
            id: hub.next_conn_id(),
            hub,
            outbox,
            name: None,
            rooms: HashSet::new(),
        }
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Handles one text frame. Bad input is answered with an `error` event; the
    /// session stays usable.
    pub fn handle_text(&mut self, text: &str) {
        let result = decode_client(text).and_then(|msg| self.handle(msg));
        if let Err(err) = result {
            tracing::debug!(conn = %self.id, code = ?err.code, "rejected client message");
            self.reply(&err.to_server_msg());
        }
    }

    /// Answers a frame the transport could not even read as text.
    pub fn reject_binary(&mut self) {
        let err = ProtocolError::new(
            ErrorCode::BadJson,
            "binary frames are not supported: send JSON text frames",
        );
        self.reply(&err.to_server_msg());
    }

    fn handle(&mut self, msg: ClientMsg) -> Result<(), ProtocolError> {
        match msg {
            ClientMsg::Hello { protocol, name } => self.hello(protocol, name),
            ClientMsg::Join { room } => {
                self.greeted()?;
                self.join(room);
                Ok(())
            }
            ClientMsg::Send {
                room,
                client_id,
                body,
            } => self.send(room, client_id, body),
        }
    }

    fn greeted(&self) -> Result<&Username, ProtocolError> {
        self.name
            .as_ref()
            .ok_or_else(|| ProtocolError::new(ErrorCode::HelloRequired, "send \"hello\" first"))
    }

    fn hello(&mut self, protocol: u32, name: Username) -> Result<(), ProtocolError> {
        if self.name.is_some() {
            return Err(ProtocolError::new(
                ErrorCode::AlreadyGreeted,
                "this connection already sent \"hello\"",
            ));
        }
        if protocol != PROTOCOL_VERSION {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "this server speaks protocol {PROTOCOL_VERSION}, not {protocol}; reload the page"
                ),
            ));
        }
        tracing::info!(conn = %self.id, "client said hello");
        self.reply(&ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            name: name.clone(),
        });
        self.name = Some(name);
        self.join(RoomName::lobby());
        Ok(())
    }

    fn join(&mut self, room: RoomName) {
        let last_seq = self.hub.join(&room, self.id, &self.outbox);
        self.reply(&ServerMsg::Joined {
            room: room.clone(),
            last_seq,
        });
        self.rooms.insert(room);
    }

    fn send(
        &mut self,
        room: RoomName,
        client_id: ClientMsgId,
        body: MessageBody,
    ) -> Result<(), ProtocolError> {
        let sender = self.greeted()?.clone();
        let with_id = |code, message: String| {
            ProtocolError::new(code, message).with_client_id(Some(client_id.clone()))
        };
        if !self.rooms.contains(&room) {
            return Err(with_id(
                ErrorCode::NotInRoom,
                format!("join room {room:?} before sending to it"),
            ));
        }
        let posted = self
            .hub
            .post(self.id, &room, &sender, &client_id, body)
            .map_err(|code| with_id(code, format!("message to {room:?} was not accepted")))?;
        self.reply(&ServerMsg::Ack {
            client_id,
            room,
            seq: posted.seq,
        });
        Ok(())
    }

    fn reply(&self, msg: &ServerMsg) {
        match msg.to_json() {
            Ok(json) => {
                // A full outbox kicks the connection; the writer then closes it.
                self.outbox.push(Frame::from(json));
            }
            Err(err) => tracing::error!(conn = %self.id, %err, "could not encode a reply"),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for room in &self.rooms {
            self.hub.leave(room, self.id);
        }
    }
}
