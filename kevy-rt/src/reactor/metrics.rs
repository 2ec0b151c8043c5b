//! The metrics endpoint (`--metrics-port`): a plain HTTP/1.1 listener on
//! shard 0's reactor that answers `GET /metrics` with the text the service
//! composes ([`Service::metrics`]) and closes the connection. It shares the
//! reactor's epoll instance, so it needs no thread or runtime of its own;
//! the service reads every shard's counters (atomics) to compose the page.
//!
//! What a scraper can cost is bounded: at most [`MAX_CONNS`] connections
//! at once (more are closed on accept), a request of at most
//! [`MAX_REQUEST`] bytes, and a connection that sends nothing for
//! [`IDLE_MS`] is closed at the next tick.

use crate::service::Service;
use kevy_sys::{Interest, Poller, TcpListener, TcpStream, Token};
use std::io;

/// Tokens at and above this are metrics connections (the listener is
/// `BASE - 1`); RESP connections use the tokens below.
pub(super) const BASE: usize = 1 << 40;
pub(super) const LISTENER: Token = Token(BASE - 1);
const MAX_CONNS: usize = 64;
const MAX_REQUEST: usize = 8 * 1024;
const IDLE_MS: u64 = 10_000;

struct HttpConn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    since_ms: u64,
}

/// The endpoint: its listener and open connections.
pub(super) struct Metrics {
    listener: TcpListener,
    conns: Vec<Option<HttpConn>>,
}

impl Metrics {
    pub fn new(listener: TcpListener, poller: &Poller) -> io::Result<Self> {
        poller.add(listener.fd(), LISTENER, Interest::READABLE)?;
        Ok(Metrics {
            listener,
            conns: Vec::new(),
        })
    }

    pub fn accept(&mut self, poller: &Poller, now_ms: u64) {
        while let Ok(Some((stream, _))) = self.listener.accept() {
            let open = self.conns.iter().flatten().count();
            if open >= MAX_CONNS {
                continue;
            }
            let i = match self.conns.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
            };
            if poller
                .add(stream.fd(), Token(BASE + i), Interest::READABLE)
                .is_err()
            {
                continue;
            }
            self.conns[i] = Some(HttpConn {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                since_ms: now_ms,
            });
        }
    }

    /// Readiness of connection `token`: read the request, answer it, write
    /// the answer out, close when done or on any error.
    pub fn event<S: Service>(
        &mut self,
        token: Token,
        poller: &Poller,
        svc: &S,
        shard: &mut S::Shard,
    ) {
        let i = token.0 - BASE;
        let Some(Some(c)) = self.conns.get_mut(i) else {
            return;
        };
        let done = if c.output.is_empty() {
            match read_request(c) {
                Ok(Some(req)) => {
                    c.output = respond(&req, svc, shard);
                    write_out(c, poller, Token(token.0))
                }
                Ok(None) => Ok(false),
                Err(_) => Ok(true),
            }
        } else {
            write_out(c, poller, Token(token.0))
        };
        if !matches!(done, Ok(false)) {
            self.close(i, poller);
        }
    }

    /// Closes connections idle for too long (called every tick).
    pub fn tick(&mut self, poller: &Poller, now_ms: u64) {
        for i in 0..self.conns.len() {
            if let Some(c) = &self.conns[i] {
                if now_ms.saturating_sub(c.since_ms) > IDLE_MS {
                    self.close(i, poller);
                }
            }
        }
    }

    fn close(&mut self, i: usize, poller: &Poller) {
        if let Some(c) = self.conns[i].take() {
            let _ = poller.delete(c.stream.fd());
        }
    }
}

/// The request line once the headers are complete; `Err` for a request
/// too large or a closed connection.
fn read_request(c: &mut HttpConn) -> io::Result<Option<String>> {
    let mut buf = [0u8; 2048];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => {
                c.input.extend_from_slice(&buf[..k]);
                if c.input.len() > MAX_REQUEST {
                    return Err(io::ErrorKind::InvalidData.into());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let Some(end) = c.input.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&c.input[..end]);
    Ok(Some(head.lines().next().unwrap_or("").to_string()))
}

fn respond<S: Service>(request_line: &str, svc: &S, shard: &mut S::Shard) -> Vec<u8> {
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", svc.metrics(shard)),
        ("GET" | "HEAD", _) => ("404 Not Found", b"not found: try /metrics\n".to_vec()),
        _ => ("405 Method Not Allowed", b"only GET\n".to_vec()),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(&body);
    }
    out
}

/// Writes what it can; true when everything is out.
fn write_out(c: &mut HttpConn, poller: &Poller, token: Token) -> io::Result<bool> {
    while c.written < c.output.len() {
        match c.stream.write(&c.output[c.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => c.written += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                poller.modify(c.stream.fd(), token, Interest::WRITABLE)?;
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
