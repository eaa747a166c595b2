//! The floor under S2's handshakes: a bare tokio-tungstenite server.
//!
//! One single-threaded tokio runtime (the cheapest scheduler for one core), a
//! task per connection, `accept_async` on the raw TCP stream with Parley's
//! small buffers — no HTTP
//! framework, no routing, no cookie, no session, no database — then the plain
//! protocol's `ready` frame, then it reads until the client goes. It never
//! broadcasts, so it takes part in S2 only. Whatever a WebSocket server in Rust
//! does on top of this costs handshakes/s; on a given machine this is about as
//! many as a tokio server can complete on one core.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use anyhow::{Context, Result};

/// `parley-bench bare-server PORT` (pinned to the server's core by `suite`):
/// serves until killed.
pub fn serve(port: u16) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("bare server: tokio runtime")?;
    runtime.block_on(async {
        // Parley's backlog: tokio's `bind` asks for 128, and a ramp overflows it.
        let socket = TcpSocket::new_v4().context("bare server: socket")?;
        socket.set_reuseaddr(true)?;
        socket
            .bind(([127, 0, 0, 1], port).into())
            .context("bare server: bind")?;
        let listener = socket.listen(4096).context("bare server: listen")?;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of file descriptors: let some close, as Parley does.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Parley's buffer sizes: tungstenite's default 128 KiB each is a
            // fresh mapping (and page faults) per connection.
            let config = WebSocketConfig::default()
                .read_buffer_size(512)
                .write_buffer_size(4096);
            // As every server in the suite: small frames go out at once.
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut socket) =
                    tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
                else {
                    return;
                };
                if socket.send(Message::text("ready")).await.is_err() {
                    return;
                }
                while let Some(Ok(_)) = socket.next().await {}
            });
        }
    })
}
