//! A WebSocket client at the byte level, for dead and slow clients.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{TIMEOUT, TestApp};

/// A WebSocket client at the byte level: it completes the handshake, then never
/// answers pings by itself (a real dead client), and reads raw frames.
pub struct RawWs {
    pub stream: TcpStream,
}

impl TestApp {
    pub async fn raw_ws(&self, token: &str) -> RawWs {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        self.raw_ws_over(stream, token).await
    }

    /// A raw WebSocket whose socket has a small receive buffer, so a client that
    /// stops reading pushes back on the server quickly.
    pub async fn raw_ws_small(&self, token: &str) -> RawWs {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(self.addr).await.unwrap();
        self.raw_ws_over(stream, token).await
    }

    async fn raw_ws_over(&self, mut stream: TcpStream, token: &str) -> RawWs {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Cookie: parley_session={token}\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Read the 101 response head byte by byte, so no frame bytes are consumed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            tokio::time::timeout(TIMEOUT, stream.read_exact(&mut byte))
                .await
                .expect("handshake timed out")
                .unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        RawWs { stream }
    }
}

impl RawWs {
    /// Reads one (unmasked, server-sent) frame: opcode and payload.
    pub async fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let mut hdr = [0u8; 2];
        tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut hdr))
            .await
            .expect("no frame in time")
            .unwrap();
        let opcode = hdr[0] & 0x0f;
        let len = match hdr[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                self.stream.read_exact(&mut ext).await.unwrap();
                usize::from(u16::from_be_bytes(ext))
            }
            127 => panic!("unexpectedly large frame"),
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.unwrap();
        (opcode, payload)
    }

    /// Reads one frame, or `None` when the connection ends (or nothing comes
    /// within `TIMEOUT`).
    pub async fn try_read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut hdr = [0u8; 2];
        tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut hdr))
            .await
            .ok()?
            .ok()?;
        let len = match hdr[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                self.stream.read_exact(&mut ext).await.ok()?;
                usize::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                self.stream.read_exact(&mut ext).await.ok()?;
                usize::try_from(u64::from_be_bytes(ext)).ok()?
            }
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some((hdr[0] & 0x0f, payload))
    }

    /// Sends a (masked, as clients must) text frame.
    pub async fn write_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81];
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | n as u8),
            n @ 126..=65535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x12, 0x34, 0x56, 0x78];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Reads frames until a close frame; returns its code.
    pub async fn read_close_code(&mut self) -> u16 {
        loop {
            let (opcode, payload) = self.read_frame().await;
            if opcode == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}
