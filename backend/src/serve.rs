//! The accept loop: HTTP/1.1 connections served by hyper with a deadline for
//! reading request headers (axum's `serve` sets none, so a client trickling a
//! header byte by byte — slowloris — could hold a connection forever).
//!
//! Each connection is its own task; on shutdown every idle keep-alive connection
//! is closed and busy ones finish their request (`graceful_shutdown`). Upgraded
//! WebSockets leave hyper and are tracked by the application.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::transport::SocketReset;

/// Accepts connections until `shutdown`, giving each request `header_timeout` to
/// send its headers (the first request, and each next one on a kept-alive
/// connection), then returns once every HTTP connection
/// has finished (upgraded WebSockets are not waited for here).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    header_timeout: Duration,
    send_buffer: Option<usize>,
) {
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(%err, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = shutdown.cancelled() => break,
                    }
                }
            },
        };
        if let Some(bytes) = send_buffer
            && let Err(err) = socket2::SockRef::from(&stream).set_send_buffer_size(bytes)
        {
            tracing::warn!(%err, "cannot set the socket's send buffer");
        }
        // Small frames go out at once instead of waiting for the previous one's
        // ACK (Nagle), which a delayed ACK can hold back for tens of ms.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let shutdown = shutdown.clone();
        let (stream, reset) = Resettable::new(stream);
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.extensions_mut().insert(reset.clone());
                    let router = router.clone();
                    // The router never fails (its error type is `Infallible`).
                    async move { router.oneshot(request.map(Body::new)).await }
                });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result, peer),
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, peer);
                }
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// A client's TCP stream that is reset when dropped, if its [`SocketReset`]
/// asked for it.
#[derive(Debug)]
struct Resettable {
    stream: TcpStream,
    reset: SocketReset,
}

impl Resettable {
    fn new(stream: TcpStream) -> (Self, SocketReset) {
        let reset = SocketReset::default();
        (
            Self {
                stream,
                reset: reset.clone(),
            },
            reset,
        )
    }
}

impl Drop for Resettable {
    fn drop(&mut self) {
        // SO_LINGER 0: close() discards what is queued and sends RST at once.
        if self.reset.is_requested()
            && let Err(err) = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO))
        {
            tracing::debug!(%err, "cannot set SO_LINGER to reset a socket");
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

fn log_end(result: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(err) = result {
        if err.is_timeout() {
            tracing::info!(%peer, "closed a connection that sent no request headers in time");
        } else {
            tracing::debug!(%peer, %err, "connection ended with an error");
        }
    }
}
