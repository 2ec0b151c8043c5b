//! Client connections of the tools that read what the server pushes
//! (pubsubbench, blpopbench): a blocking request/reply connection for the
//! side that sends, and a read buffer with a matcher for the one frame
//! the receiving side expects, so that counting millions of messages costs
//! a memcmp each rather than a parse.

use crate::cli::die;
use crate::resp::{command, parse, Value};
use kevy_sys::{Events, Interest, Poller, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes a read buffer starts with; it doubles when a reply needs more.
const BUF: usize = 64 << 10;

/// Connects with TCP_NODELAY, or dies.
pub fn connect(host: &str, port: u16) -> TcpStream {
    let s = TcpStream::connect((host, port))
        .unwrap_or_else(|e| die(format_args!("connect {host}:{port}: {e}")));
    s.set_nodelay(true).ok();
    s
}

/// Bytes read from a stream and not yet consumed: `buf[start..end]`.
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf {
            buf: vec![0; BUF],
            start: 0,
            end: 0,
        }
    }
}

impl ReadBuf {
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// One read(2) from `s` into the free space, after making room: Ok(n),
    /// Ok(0) at end of stream, Err(WouldBlock) when a non-blocking `s` has
    /// nothing.
    pub fn fill(&mut self, s: &mut TcpStream) -> std::io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        loop {
            match s.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A blocking connection that sends commands and reads their replies.
pub struct Blocking {
    pub stream: TcpStream,
    rb: ReadBuf,
}

impl Blocking {
    pub fn connect(host: &str, port: u16) -> Blocking {
        Blocking {
            stream: connect(host, port),
            rb: ReadBuf::default(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self.stream.write_all(bytes) {
            die(format_args!("write: {e}"));
        }
    }

    /// Reads one whole reply and hands it to `f`.
    pub fn reply<T>(&mut self, f: impl FnOnce(Value<'_>) -> T) -> T {
        loop {
            match parse(self.rb.data()) {
                Ok(Some((v, used))) => {
                    let out = f(v);
                    self.rb.consume(used);
                    return out;
                }
                Ok(None) => {}
                Err(e) => die(format_args!("protocol error from server: {}", e.0)),
            }
            match self.rb.fill(&mut self.stream) {
                Ok(0) => die("server closed the connection"),
                Ok(_) => {}
                Err(e) => die(format_args!("read: {e}")),
            }
        }
    }

    /// One command, one reply.
    pub fn call<T>(&mut self, args: &[&[u8]], f: impl FnOnce(Value<'_>) -> T) -> T {
        let mut out = Vec::new();
        command(&mut out, args);
        self.send(&out);
        self.reply(f)
    }

    /// A field of INFO `section` (`blocked_clients`, say), as text.
    pub fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        self.call(&[b"INFO", section.as_bytes()], |v| match v {
            Value::Bulk(Some(text)) => String::from_utf8_lossy(text).lines().find_map(|l| {
                l.strip_prefix(field)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|r| r.trim().to_string())
            }),
            _ => None,
        })
    }
}

/// Digits of the sequence number a frame carries: zero-padded decimal, so
/// every frame of a run has one length.
pub const SEQ_DIGITS: usize = 16;

/// Writes `n` as SEQ_DIGITS zero-padded decimal digits into `out`.
pub fn put_seq(out: &mut [u8], mut n: u64) {
    for d in out[..SEQ_DIGITS].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The one reply a receiver expects, whole: a fixed `prefix` ending in the
/// header of a bulk string whose first SEQ_DIGITS bytes are a sequence
/// number, padded to `data` bytes. A pub/sub message is
/// `*3 $7 message $<n> <channel> $<data>`, a BLPOP reply `*2 $<n> <key>
/// $<data>`.
pub struct Frame {
    prefix: Vec<u8>,
    len: usize,
}

/// What the bytes at the front of a buffer are.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The frame, carrying this sequence number; `Frame::size` bytes.
    Seq(u64),
    /// The start of the frame, or nothing: read on.
    Partial,
}

impl Frame {
    /// `head` are the elements before the data of an array of
    /// `head.len() + 1` bulk strings.
    pub fn new(head: &[&[u8]], data: usize) -> Frame {
        assert!(data >= SEQ_DIGITS, "the data holds the sequence number");
        let mut prefix = format!("*{}\r\n", head.len() + 1).into_bytes();
        for h in head {
            prefix.extend_from_slice(format!("${}\r\n", h.len()).as_bytes());
            prefix.extend_from_slice(h);
            prefix.extend_from_slice(b"\r\n");
        }
        prefix.extend_from_slice(format!("${data}\r\n").as_bytes());
        let len = prefix.len() + data + 2;
        Frame { prefix, len }
    }

    /// Bytes of one whole frame.
    pub fn size(&self) -> usize {
        self.len
    }

    /// Looks at the front of `buf`; dies, showing what came, when it is
    /// anything but this frame or a piece of it.
    pub fn next(&self, buf: &[u8]) -> Next {
        if buf.len() >= self.len
            && buf.starts_with(&self.prefix)
            && buf[..self.len].ends_with(b"\r\n")
        {
            let digits = &buf[self.prefix.len()..self.prefix.len() + SEQ_DIGITS];
            let mut n = 0u64;
            for &d in digits {
                if !d.is_ascii_digit() {
                    self.unexpected(buf);
                }
                n = n * 10 + u64::from(d - b'0');
            }
            return Next::Seq(n);
        }
        if buf.len() < self.len
            && self
                .prefix
                .starts_with(&buf[..buf.len().min(self.prefix.len())])
        {
            return Next::Partial;
        }
        self.unexpected(buf)
    }

    fn unexpected(&self, buf: &[u8]) -> ! {
        let want = String::from_utf8_lossy(&self.prefix)
            .escape_debug()
            .to_string();
        match parse(buf) {
            Ok(Some((v, _))) => die(format_args!("expected a frame like {want:?}..., got {v}")),
            Ok(None) => die(format_args!(
                "expected a frame like {want:?}..., got the start of {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(80)])
            )),
            Err(e) => die(format_args!("protocol error from server: {}", e.0)),
        }
    }
}

/// What [`receive`] saw.
pub struct Received {
    /// The connections the server closed (or reset), by index.
    pub closed: Vec<usize>,
    /// When the last frame arrived.
    pub last: Option<Instant>,
}

/// Waits until `progress` reaches `target`, `done()` says every reader
/// has returned, or `progress` has not moved for `idle`.
pub fn wait_progress(progress: &AtomicU64, target: u64, idle: Duration, done: impl Fn() -> bool) {
    // Relaxed: only a count to watch; the readers' results come with
    // joining them.
    let mut seen = progress.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        let now = progress.load(Ordering::Relaxed);
        if now >= target || done() {
            break;
        }
        if now != seen {
            seen = now;
            since = Instant::now();
        } else if since.elapsed() >= idle {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads `frame`s from the non-blocking `conns` in one epoll loop and hands
/// each one's sequence number to `on_frame(conn index, seq, stream, read
/// at)`, which returns whether that connection expects nothing more; `read
/// at` is when the read that brought the frame returned (one clock read
/// per read, not per frame, so timing costs the reader next to nothing). Adds the frames
/// taken to `progress` once per wake-up (the caller watches it) and returns
/// when every connection expects nothing more or was closed, or once `stop`
/// is set. Anything but `frame` from the server is fatal.
pub fn receive(
    conns: &mut [TcpStream],
    frame: &Frame,
    stop: &AtomicBool,
    progress: &AtomicU64,
    mut on_frame: impl FnMut(usize, u64, &mut TcpStream, Instant) -> bool,
) -> Received {
    let poller = Poller::new().unwrap_or_else(|e| die(format_args!("epoll: {e}")));
    for (i, s) in conns.iter().enumerate() {
        s.set_nonblocking(true)
            .unwrap_or_else(|e| die(format_args!("set_nonblocking: {e}")));
        poller
            .add(s.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap_or_else(|e| die(format_args!("epoll add: {e}")));
    }
    let mut bufs: Vec<ReadBuf> = conns.iter().map(|_| ReadBuf::default()).collect();
    let mut open = vec![true; conns.len()];
    let mut left = conns.len();
    let mut out = Received {
        closed: Vec::new(),
        last: None,
    };
    let mut events = Events::with_capacity(conns.len().min(1024));
    // Relaxed: `stop` only ends the loop; what the caller reads after
    // joining this thread is in the return value.
    while left > 0 && !stop.load(Ordering::Relaxed) {
        poller
            .wait(&mut events, 20)
            .unwrap_or_else(|e| die(format_args!("epoll wait: {e}")));
        let mut taken = 0;
        for ev in events.iter() {
            let i = ev.token.0;
            if !open[i] {
                continue;
            }
            let (s, rb) = (&mut conns[i], &mut bufs[i]);
            let eof = match rb.fill(s) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
                Err(e) => die(format_args!("read: {e}")),
            };
            let at = Instant::now();
            let mut finished = false;
            while let Next::Seq(seq) = frame.next(rb.data()) {
                rb.consume(frame.size());
                taken += 1;
                if on_frame(i, seq, s, at) {
                    finished = true;
                    break;
                }
            }
            if finished || eof {
                if eof && !finished {
                    out.closed.push(i);
                }
                open[i] = false;
                left -= 1;
                let _ = poller.delete(s.as_raw_fd());
            }
        }
        if taken > 0 {
            out.last = Some(Instant::now());
            // Relaxed: a progress count, read for reporting only.
            progress.fetch_add(taken, Ordering::Relaxed);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_its_message_at_every_cut() {
        let f = Frame::new(&[b"message", b"ch"], 20);
        let mut msg = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$20\r\n".to_vec();
        let mut data = [b'x'; 20];
        put_seq(&mut data, 4_200_000_007);
        msg.extend_from_slice(&data);
        msg.extend_from_slice(b"\r\n");
        assert_eq!(f.size(), msg.len());
        assert_eq!(&data[..SEQ_DIGITS], b"0000004200000007");
        assert_eq!(f.next(&msg), Next::Seq(4_200_000_007));
        for cut in 0..msg.len() {
            assert_eq!(f.next(&msg[..cut]), Next::Partial, "cut at {cut}");
        }
        // A second frame behind the first does not disturb it.
        let two = [&msg[..], &msg[..5]].concat();
        assert_eq!(f.next(&two), Next::Seq(4_200_000_007));
    }

    /// Three connections get 1000 frames each, written in pieces cut at
    /// odd offsets; the second is closed after 400. `receive` must hand
    /// over every frame in order and report the closed one.
    #[test]
    fn receive_counts_split_frames_and_sees_a_close() {
        use std::net::TcpListener;
        let f = Frame::new(&[b"message", b"c"], SEQ_DIGITS);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut conns: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let servers: Vec<TcpStream> = (0..3).map(|_| l.accept().unwrap().0).collect();
        let writer = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for (i, mut s) in servers.into_iter().enumerate() {
                let n = if i == 1 { 400 } else { 1000 };
                let mut all = Vec::new();
                for seq in 0..n {
                    all.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$16\r\n");
                    let mut d = [0u8; SEQ_DIGITS];
                    put_seq(&mut d, seq);
                    all.extend_from_slice(&d);
                    all.extend_from_slice(b"\r\n");
                }
                for piece in all.chunks(37) {
                    s.write_all(piece).unwrap();
                }
                // Dropping `s` closes it; the others stay open until the
                // test ends.
                if i != 1 {
                    kept.push(s);
                }
            }
            kept
        });
        let stop = AtomicBool::new(false);
        let progress = AtomicU64::new(0);
        let mut next = [0u64; 3];
        let r = receive(&mut conns, &f, &stop, &progress, |i, seq, _, _| {
            assert_eq!(seq, next[i], "connection {i}");
            next[i] += 1;
            next[i] == 1000
        });
        let kept = writer.join().unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(next, [1000, 400, 1000]);
        assert_eq!(r.closed, vec![1]);
        assert_eq!(progress.load(Ordering::Relaxed), 2400);
        assert!(r.last.is_some());
    }

    #[test]
    fn frame_of_a_blpop_reply() {
        let f = Frame::new(&[b"queue"], SEQ_DIGITS);
        let reply = b"*2\r\n$5\r\nqueue\r\n$16\r\n0000000000000042\r\n";
        assert_eq!(f.size(), reply.len());
        assert_eq!(f.next(reply), Next::Seq(42));
    }
}
