//! A WebSocket client speaking the protocol, one helper per operation.

use futures_util::{SinkExt, StreamExt};
use parley_common::{ChatMessage, ErrorCode, MyRoom, PROTOCOL_VERSION, ServerMsg};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{TIMEOUT, TestApp};

impl TestApp {
    /// Tries to open a WebSocket with these cookies/origin; the HTTP status on
    /// refusal.
    pub async fn try_ws(&self, token: Option<&str>, origin: Option<&str>) -> Result<Client, u16> {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            request.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(&format!("parley_session={token}")).unwrap(),
            );
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")
        {
            Ok((ws, _)) => Ok(Client {
                ws,
                side: Vec::new(),
            }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// Opens a WebSocket with the session and says hello; returns the client and
    /// the rooms from `welcome`.
    pub async fn connect(&self, token: &str) -> (Client, Vec<MyRoom>) {
        let mut client = self
            .try_ws(Some(token), None)
            .await
            .expect("upgrade refused");
        let rooms = client.hello().await;
        (client, rooms)
    }

    /// Opens a WebSocket that says hello resuming `room` from `seq`; the
    /// welcome has been read.
    pub async fn resume_ws(&self, token: &str, room: &str, seq: u64) -> Client {
        let mut client = self
            .try_ws(Some(token), None)
            .await
            .expect("upgrade refused");
        client
            .send_json(json!({"type": "hello", "protocol": PROTOCOL_VERSION,
                              "resume": [{"room": room, "seq": seq}]}))
            .await;
        assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
        client
    }

    /// Registers `name` and connects; the lobby is joined.
    pub async fn user(&self, name: &str) -> Client {
        let token = self.register(name).await;
        self.connect(&token).await.0
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Presence, online lists and typing signals that `recv` stepped over.
    pub side: Vec<ServerMsg>,
}

impl Client {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.unwrap();
    }

    /// The next server message (pings and pongs skipped), waiting at most `TIMEOUT`.
    /// The next server message that is not presence, an online list or typing
    /// (those are kept in `side`), waiting at most `TIMEOUT`.
    pub async fn recv(&mut self) -> ServerMsg {
        loop {
            let msg = self.recv_any().await;
            match msg {
                ServerMsg::Presence { .. }
                | ServerMsg::Online { .. }
                | ServerMsg::Typing { .. } => {
                    self.side.push(msg);
                }
                other => return other,
            }
        }
    }

    /// Waits for a message matching `pred`, looking first at what `recv` stepped
    /// over; other messages met on the way are kept in `side`.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        if let Some(i) = self.side.iter().position(&pred) {
            return self.side.remove(i);
        }
        loop {
            let msg = match tokio::time::timeout(TIMEOUT, self.next_text()).await {
                Ok(Some(msg)) => msg,
                _ => panic!("waited in vain for {what}; saw {:?}", self.side),
            };
            if pred(&msg) {
                return msg;
            }
            self.side.push(msg);
        }
    }

    /// The next server message, `Err(close frame)` when the server closed, `None`
    /// when the connection ended without a close frame.
    pub async fn next_frame(&mut self) -> Option<Result<ServerMsg, Option<CloseFrame>>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(Ok(serde_json::from_str(&text).expect("valid JSON")));
                }
                Ok(Message::Close(frame)) => return Some(Err(frame)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next server message, or `None` if the connection ended.
    async fn next_text(&mut self) -> Option<ServerMsg> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next server message of any kind (pings and pongs skipped).
    pub async fn recv_any(&mut self) -> ServerMsg {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("no message from the server in time")
                .expect("connection ended")
                .expect("websocket error");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("server sent invalid JSON {text}: {e}"));
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Waits for `n` pings from the server (tungstenite answers each with a pong).
    pub async fn expect_pings(&mut self, n: usize) {
        let mut seen = 0;
        while seen < n {
            match tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("no ping in time")
            {
                Some(Ok(Message::Ping(_))) => seen += 1,
                Some(Ok(Message::Close(f))) => panic!("closed while waiting for pings: {f:?}"),
                Some(Ok(_)) => {}
                other => panic!("connection ended while waiting for pings: {other:?}"),
            }
        }
    }

    /// Waits for the server to close the connection; returns its close frame.
    pub async fn recv_close(&mut self) -> Option<CloseFrame> {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("connection not closed in time");
            match frame {
                Some(Ok(Message::Close(frame))) => {
                    // Keep polling so tungstenite sends our close reply, until the
                    // server ends the connection.
                    while let Ok(Some(_)) = tokio::time::timeout(TIMEOUT, self.ws.next()).await {}
                    return frame;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("connection failed instead of closing: {e}"),
                None => return None,
            }
        }
    }

    /// Says hello; returns the rooms of the welcome.
    pub async fn hello(&mut self) -> Vec<MyRoom> {
        self.send_json(json!({"type": "hello", "protocol": PROTOCOL_VERSION}))
            .await;
        match self.recv().await {
            ServerMsg::Welcome { rooms, .. } => rooms,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn say(&mut self, room: &str, client_id: &str, body: &str) {
        self.send_json(json!({"type": "send", "room": room, "client_id": client_id, "body": body}))
            .await;
    }

    /// Sends a message and waits for its ack (skipping its own echo and other
    /// messages); returns the seq.
    pub async fn say_acked(&mut self, room: &str, client_id: &str, body: &str) -> u64 {
        self.say(room, client_id, body).await;
        loop {
            match self.recv().await {
                ServerMsg::Ack {
                    client_id: c, seq, ..
                } if c.as_str() == client_id => return seq,
                ServerMsg::Message(_) => {}
                other => panic!("expected the ack of {client_id}, got {other:?}"),
            }
        }
    }

    /// The next chat message (anything else is a test failure).
    pub async fn recv_message(&mut self) -> ChatMessage {
        match self.recv().await {
            ServerMsg::Message(m) => m,
            other => panic!("expected a chat message, got {other:?}"),
        }
    }

    /// Sends `join`/`create_room` and waits for `joined` + `history`; returns the
    /// history page.
    pub async fn enter(&mut self, kind: &str, room: &str) -> (Vec<ChatMessage>, bool) {
        self.send_json(json!({"type": kind, "room": room})).await;
        match self.recv().await {
            ServerMsg::Joined { room: r, .. } => assert_eq!(r.as_str(), room),
            other => panic!("expected joined {room}, got {other:?}"),
        }
        self.expect_history(room).await
    }

    pub async fn expect_history(&mut self, room: &str) -> (Vec<ChatMessage>, bool) {
        match self.recv().await {
            ServerMsg::History {
                channel,
                messages,
                has_more,
            } => {
                let name = match &channel {
                    parley_common::Channel::Room(r) => r.to_string(),
                    parley_common::Channel::Dm(u) => u.to_string(),
                };
                assert_eq!(name, room);
                (messages, has_more)
            }
            other => panic!("expected history of {room}, got {other:?}"),
        }
    }

    /// The latest page of the conversation with `user`.
    pub async fn dm_history(&mut self, user: &str) -> Vec<ChatMessage> {
        self.send_json(json!({"type": "history", "dm": user})).await;
        match self.recv().await {
            ServerMsg::History { messages, .. } => messages,
            other => panic!("expected the conversation with {user}, got {other:?}"),
        }
    }

    pub async fn history(&mut self, room: &str, before: Option<u64>) -> (Vec<ChatMessage>, bool) {
        let mut msg = json!({"type": "history", "room": room});
        if let Some(b) = before {
            msg["before"] = json!(b);
        }
        self.send_json(msg).await;
        self.expect_history(room).await
    }

    /// Expects an `error` event with this code; returns its client id.
    pub async fn expect_error(&mut self, code: ErrorCode) -> Option<String> {
        match self.recv().await {
            ServerMsg::Error {
                code: got,
                message,
                client_id,
            } => {
                assert_eq!(got, code, "error message was: {message}");
                assert!(!message.is_empty());
                client_id.map(|c| c.to_string())
            }
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Proves nothing else is queued for this client: a round trip through the
    /// server (a history request) comes back first.
    pub async fn expect_quiet(&mut self) {
        self.send_json(json!({"type": "list_rooms"})).await;
        match self.recv().await {
            ServerMsg::RoomList { .. } => {}
            other => panic!("expected nothing before the room list, got {other:?}"),
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
