//! A tiny RESP2/RESP3 reply reader for tests: reads exactly one reply value
//! off a socket and keeps the exact bytes it came in, so tests can compare
//! servers byte for byte and still look inside a reply when they must.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// One reply value. Each variant keeps enough to re-encode the exact bytes
/// it was parsed from, so `encode(parse(x)) == x`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// A one-line value: `+` simple string, `-` error, `:` integer, `_`
    /// null, `,` double, `(` big number, `#` boolean. Holds the line after
    /// the type byte.
    Line(u8, Vec<u8>),
    /// A length-prefixed value: `$` bulk string, `!` bulk error, `=`
    /// verbatim string. `None` is the RESP2 null bulk (`$-1`).
    Bulk(u8, Option<Vec<u8>>),
    /// An aggregate: `*` array, `%` map, `~` set, `>` push, `|` attribute.
    /// Maps and attributes hold their keys and values interleaved. `None` is
    /// the RESP2 null array (`*-1`).
    Agg(u8, Option<Vec<Value>>),
}

impl Value {
    pub fn kind(&self) -> u8 {
        match self {
            Value::Line(k, _) | Value::Bulk(k, _) | Value::Agg(k, _) => *k,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self.kind(), b'-' | b'!')
    }

    /// The payload of a string-like value (simple, bulk, verbatim, error).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Line(_, b) | Value::Bulk(_, Some(b)) => Some(b),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Line(b':', b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Agg(_, Some(v)) => Some(v),
            _ => None,
        }
    }

    /// A short name of the reply's type, e.g. "array" or "null bulk string".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Line(b'+', _) => "simple string",
            Value::Line(b'-', _) => "error",
            Value::Line(b':', _) => "integer",
            Value::Line(b'_', _) => "null",
            Value::Line(b',', _) => "double",
            Value::Line(b'(', _) => "big number",
            Value::Line(b'#', _) => "boolean",
            Value::Bulk(b'$', None) => "null bulk string",
            Value::Bulk(b'$', Some(_)) => "bulk string",
            Value::Bulk(b'!', _) => "bulk error",
            Value::Bulk(b'=', _) => "verbatim string",
            Value::Agg(b'*', None) => "null array",
            Value::Agg(b'*', Some(_)) => "array",
            Value::Agg(b'%', _) => "map",
            Value::Agg(b'~', _) => "set",
            Value::Agg(b'>', _) => "push",
            Value::Agg(b'|', _) => "attribute",
            _ => "unknown",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Line(k, line) => {
                out.push(*k);
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            Value::Bulk(k, None) | Value::Agg(k, None) => {
                out.push(*k);
                out.extend_from_slice(b"-1\r\n");
            }
            Value::Bulk(k, Some(data)) => {
                out.push(*k);
                out.extend_from_slice(format!("{}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Value::Agg(k, Some(items)) => {
                let n = if matches!(k, b'%' | b'|') {
                    items.len() / 2
                } else {
                    items.len()
                };
                out.push(*k);
                out.extend_from_slice(format!("{n}\r\n").as_bytes());
                for item in items {
                    item.encode_into(out);
                }
            }
        }
    }
}

/// Shows the exact bytes, escaped: `"+OK\r\n"`.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", escape(&self.encode()))
    }
}

/// Parses one value from the front of `buf`: `Ok(None)` means "not complete
/// yet", `Ok(Some((value, consumed)))` a whole value.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, String> {
    let Some(kind) = buf.first().copied() else {
        return Ok(None);
    };
    let Some(eol) = find_crlf(buf) else {
        return Ok(None);
    };
    let line = &buf[1..eol];
    let after = eol + 2;
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'(' | b'#' => {
            Ok(Some((Value::Line(kind, line.to_vec()), after)))
        }
        b'$' | b'!' | b'=' => {
            let len = parse_len(line)?;
            if len < 0 {
                return Ok(Some((Value::Bulk(kind, None), after)));
            }
            let end = after + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(format!("bulk of length {len} not followed by CRLF"));
            }
            Ok(Some((
                Value::Bulk(kind, Some(buf[after..end].to_vec())),
                end + 2,
            )))
        }
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let n = parse_len(line)?;
            if n < 0 {
                return Ok(Some((Value::Agg(kind, None), after)));
            }
            let count = if matches!(kind, b'%' | b'|') {
                n * 2
            } else {
                n
            };
            let mut items = Vec::with_capacity(count.min(1024) as usize);
            let mut pos = after;
            for _ in 0..count {
                match parse(&buf[pos..])? {
                    Some((v, used)) => {
                        items.push(v);
                        pos += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Value::Agg(kind, Some(items)), pos)))
        }
        other => Err(format!("unknown reply type byte {:?}", other as char)),
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn parse_len(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length line {}", escape(line)))
}

/// Encodes a command as a RESP multibulk array.
pub fn command(args: &[impl AsRef<[u8]>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Renders bytes readably: printable ASCII as is, `\r \n \t \\ \"`
/// escaped, anything else as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[derive(Debug)]
pub enum ReadError {
    /// The server closed the connection (EOF or reset) before a whole reply.
    Closed,
    /// No whole reply within the read timeout.
    Timeout,
    /// The bytes are not RESP.
    Protocol(String),
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed => write!(f, "<connection closed by server>"),
            ReadError::Timeout => write!(f, "<timed out waiting for a reply>"),
            ReadError::Protocol(e) => write!(f, "<reply is not valid RESP: {e}>"),
            ReadError::Io(e) => write!(f, "<i/o error: {e}>"),
        }
    }
}

/// A client connection that reads replies one value at a time.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    pub fn connect(port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        // Generous: a debug build on a loaded 2-core CI machine takes
        // seconds for the slowest commands (PFSELFTEST's ten million adds).
        let timeout = Duration::from_secs(30);
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            timeout,
        })
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, args: &[impl AsRef<[u8]>]) -> Result<Value, ReadError> {
        self.send(&command(args)).map_err(ReadError::Io)?;
        self.read().map(|(v, _)| v)
    }

    /// Reads one whole reply; returns it with the exact bytes it came in.
    pub fn read(&mut self) -> Result<(Value, Vec<u8>), ReadError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some((v, used)) = parse(&self.buf).map_err(ReadError::Protocol)? {
                let raw = self.buf.drain(..used).collect();
                return Ok((v, raw));
            }
            if Instant::now() >= deadline {
                return Err(ReadError::Timeout);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<(), ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ReadError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if is_timeout(&e) => Err(ReadError::Timeout),
            Err(e) if is_reset(&e) => Err(ReadError::Closed),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// [`Self::read_until_quiet`] with `first`, then again with `quiet`
    /// while the bytes hold fewer than `want` whole values and `patience`
    /// has not passed: a reply or push that crosses shards may come late
    /// on a loaded machine. Returns the bytes and whether the server
    /// closed the connection.
    pub fn read_values(
        &mut self,
        want: usize,
        first: Duration,
        quiet: Duration,
        patience: Duration,
    ) -> (Vec<u8>, bool) {
        let (mut bytes, mut closed) = self.read_until_quiet(first);
        let until = Instant::now() + patience;
        while !closed && values_in(&bytes) < want && Instant::now() < until {
            let (more, c) = self.read_until_quiet(quiet);
            bytes.extend(more);
            closed = c;
        }
        (bytes, closed)
    }

    /// Reads whatever arrives until the connection has been quiet for
    /// `quiet` (or is closed). If what arrived ends in the middle of a
    /// reply, keeps waiting up to the normal timeout for the rest. Returns
    /// the bytes and whether the server closed the connection.
    pub fn read_until_quiet(&mut self, quiet: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + self.timeout;
        let mut closed = false;
        let _ = self.stream.set_read_timeout(Some(quiet));
        loop {
            match self.fill() {
                Ok(()) => continue,
                Err(ReadError::Timeout) if !ends_mid_reply(&self.buf) => break,
                Err(ReadError::Timeout) if Instant::now() < deadline => continue,
                Err(ReadError::Timeout) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let _ = self.stream.set_read_timeout(Some(self.timeout));
        (std::mem::take(&mut self.buf), closed)
    }

    /// Closes our side for writing, so the server sees EOF.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// True when `buf` holds some whole replies followed by part of another.
/// The whole RESP values at the start of `bytes`.
pub fn values_in(bytes: &[u8]) -> usize {
    let (mut n, mut at) = (0, 0);
    while let Ok(Some((_, used))) = parse(&bytes[at..]) {
        n += 1;
        at += used;
    }
    n
}

fn ends_mid_reply(buf: &[u8]) -> bool {
    let mut pos = 0;
    while pos < buf.len() {
        match parse(&buf[pos..]) {
            Ok(Some((_, used))) => pos += used,
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
    false
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_then_encode_round_trips() {
        let samples: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":-12\r\n",
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"$4\r\na\r\nb\r\n",
            b"*-1\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            b"%1\r\n+a\r\n~2\r\n,1.5\r\n#t\r\n",
            b"_\r\n",
            b"=7\r\ntxt:abc\r\n",
            b">2\r\n+x\r\n(123\r\n",
        ];
        for s in samples {
            let (v, used) = parse(s).unwrap().unwrap();
            assert_eq!(used, s.len(), "{}", escape(s));
            assert_eq!(v.encode(), s.to_vec());
            for cut in 0..s.len() {
                assert_eq!(parse(&s[..cut]).unwrap(), None, "{}", escape(&s[..cut]));
            }
        }
    }
}
