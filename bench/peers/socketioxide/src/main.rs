//! Minimal room-broadcast server on socketioxide (axum), a peer for Parley's
//! benchmarks (bench/).
//!
//! Protocol: Socket.IO v5 over Engine.IO v4:
//! ws://HOST:PORT/socket.io/?EIO=4&transport=websocket&room=<room>. On connect the
//! socket joins <room> and gets the event "ready"; every "msg" event is emitted to
//! the whole room, the sender included.
//!
//! Usage: bench-peer-socketioxide PORT

use axum::serve::ListenerExt;
use socketioxide::SocketIo;
use socketioxide::extract::{Data, SocketRef};

/// Packets queued per socket before emits to it fail: the same as Parley's
/// per-connection outbox (256 frames).
const BUFFER: usize = 256;
const BACKLOG: u32 = 1024;

fn room_of(socket: &SocketRef) -> String {
    socket
        .req_parts()
        .uri
        .query()
        .and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("room="))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "bench".to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: bench-peer-socketioxide PORT")?
        .parse()?;
    let (layer, io) = SocketIo::builder().max_buffer_size(BUFFER).build_layer();
    io.ns("/", async |socket: SocketRef| {
        let room = room_of(&socket);
        socket.join(room.clone());
        socket.on(
            "msg",
            async move |socket: SocketRef, Data::<String>(body)| {
                let _ = socket.within(room.clone()).emit("msg", &body).await;
            },
        );
        let _ = socket.emit("ready", &());
    });
    let app = axum::Router::new().layer(layer);
    // A listen backlog of 1,024, as the Node and Flask peers have (tokio's
    // `TcpListener::bind` uses 128, which overflows in a connection ramp).
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], port).into())?;
    // TCP_NODELAY, as every latency-minded server sets it (Node does by default):
    // without it Nagle's algorithm holds small frames back until the client's
    // delayed ACK.
    let listener = socket.listen(BACKLOG)?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
