//! A client connection as its home reactor keeps it: the socket and read
//! buffer (`ConnIo`), and the reply side (`ConnState`): the output buffer
//! plus one slot per outstanding command, drained strictly in sequence.

use crate::fold::FanOut;
use crate::service::{ClientCtx, Service};
use kevy_resp::{OwnedArgs, Parser};
use kevy_sys::{Interest, TcpStream};
use std::collections::VecDeque;

/// Commands one connection may run per loop iteration.
pub const CMD_BUDGET: usize = 1024;
/// Unsent output above which the connection is not read (back-pressure on a
/// client that does not read its replies).
pub const OUTPUT_SOFT_LIMIT: usize = 4 << 20;
/// Outstanding (unanswered) commands above which the connection is not read.
pub const MAX_PENDING: usize = 16 * 1024;
/// Redis's `client-query-buffer-limit` default.
pub const QUERY_BUF_LIMIT: usize = 1 << 30;
/// Smallest free space offered to `read`.
pub const READ_CHUNK: usize = 16 * 1024;

/// An outstanding reply.
pub(crate) enum Slot {
    /// One remote reply, not yet in.
    Wait,
    /// Parts of a fanned-out command, some not yet in.
    Fan(Box<FanOut>),
    /// Complete, waiting for earlier replies.
    Ready(Vec<u8>),
}

pub(crate) struct ConnIo {
    pub stream: TcpStream,
    /// Read buffer. Its length is its allocated size (zeroed once, when it
    /// grows), so reading never re-initialises memory; `rend` marks the end
    /// of the bytes received.
    pub rbuf: Vec<u8>,
    /// Bytes of `rbuf` already parsed.
    pub rpos: usize,
    /// Bytes of `rbuf` received.
    pub rend: usize,
    pub parser: Parser,
    /// Registered epoll interest; `None` while not registered.
    pub interest: Option<Interest>,
    /// The peer closed its side.
    pub eof: bool,
}

impl ConnIo {
    /// Makes room for at least `READ_CHUNK` more bytes, first by dropping
    /// parsed bytes, then by growing (doubling).
    pub fn make_room(&mut self) {
        if self.rpos == self.rend && self.rbuf.len() > 64 * READ_CHUNK {
            // A big request is done: give its memory back.
            self.rbuf = vec![0; READ_CHUNK];
            self.rpos = 0;
            self.rend = 0;
        }
        if self.rpos > 0 && (self.rpos == self.rend || self.rbuf.len() - self.rend < READ_CHUNK) {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        if self.rbuf.len() - self.rend < READ_CHUNK {
            let new_len = (self.rbuf.len() * 2).max(READ_CHUNK);
            self.rbuf.resize(new_len, 0);
        }
    }
}

pub(crate) struct ConnState<S: Service> {
    pub client: ClientCtx,
    pub session: S::Session,
    pub wbuf: Vec<u8>,
    /// Bytes of `wbuf` already written.
    pub wpos: usize,
    /// Sequence number of `slots[0]`; everything before it is in `wbuf`.
    pub done_seq: u64,
    pub slots: VecDeque<Slot>,
    /// Flush, then close (QUIT, protocol error).
    pub closing: bool,
    /// A transaction is in flight; read nothing more until it ends.
    pub blocked: bool,
    /// Between MULTI and EXEC: the queued commands.
    pub multi: Option<MultiQueue<S>>,
    /// WATCHed keys: `(database, key)`.
    pub watched: Vec<(u32, Vec<u8>)>,
}

/// Commands queued between MULTI and EXEC.
pub(crate) struct MultiQueue<S: Service> {
    pub cmds: Vec<(S::Cmd, OwnedArgs)>,
    /// Bytes the queue holds; above [`QUERY_BUF_LIMIT`] the connection is
    /// closed, as for a query buffer that large.
    pub bytes: usize,
    /// A queue-time error happened: EXEC answers EXECABORT.
    pub aborted: bool,
}

pub(crate) struct Conn<S: Service> {
    pub io: ConnIo,
    pub st: ConnState<S>,
    /// Listed in the reactor's ready list (has input to parse).
    pub in_ready: bool,
    /// Listed in the reactor's write list.
    pub in_write: bool,
}

impl<S: Service> ConnState<S> {
    pub fn new(client: ClientCtx) -> Self {
        ConnState {
            client,
            session: S::Session::default(),
            wbuf: Vec::with_capacity(READ_CHUNK),
            wpos: 0,
            done_seq: 0,
            slots: VecDeque::new(),
            closing: false,
            blocked: false,
            multi: None,
            watched: Vec::new(),
        }
    }

    /// The sequence number the next command gets.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.done_seq + self.slots.len() as u64
    }

    #[inline]
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Whether more commands may be parsed and run now.
    #[inline]
    pub fn can_run(&self) -> bool {
        !self.blocked && self.can_read()
    }

    /// Whether the socket may be read. A connection waiting for its
    /// transaction still reads (into its query buffer, as Redis does for a
    /// blocked client): the wait is short, and dropping and re-adding its
    /// epoll interest would cost two syscalls per transaction.
    #[inline]
    pub fn can_read(&self) -> bool {
        !self.closing && self.unsent() < OUTPUT_SOFT_LIMIT && self.slots.len() < MAX_PENDING
    }

    /// Appends a complete reply for the next sequence number: straight to
    /// the output when nothing is outstanding, else into a slot.
    pub fn push_ready(&mut self, reply: &[u8], pool: &mut VecPool) {
        if self.slots.is_empty() {
            self.wbuf.extend_from_slice(reply);
            self.done_seq += 1;
        } else {
            let mut v = pool.get();
            v.extend_from_slice(reply);
            self.slots.push_back(Slot::Ready(v));
        }
    }

    /// Records the reply (or part) for `seq`, then drains complete slots.
    pub fn deliver(&mut self, seq: u64, part: u32, reply: &[u8], pool: &mut VecPool) {
        let Some(i) = seq.checked_sub(self.done_seq).map(|i| i as usize) else {
            return;
        };
        match self.slots.get_mut(i) {
            Some(slot @ Slot::Wait) => {
                if i == 0 {
                    self.wbuf.extend_from_slice(reply);
                    self.slots.pop_front();
                    self.done_seq += 1;
                } else {
                    let mut v = pool.get();
                    v.extend_from_slice(reply);
                    *slot = Slot::Ready(v);
                }
            }
            Some(slot @ Slot::Fan(_)) => {
                let Slot::Fan(fo) = slot else { unreachable!() };
                if fo.add(part as usize, reply.to_vec()) {
                    let mut v = pool.get();
                    fo.finish(&mut v);
                    *slot = Slot::Ready(v);
                }
            }
            _ => return,
        }
        self.drain_ready(pool);
    }

    /// Moves leading complete slots to the output buffer.
    pub fn drain_ready(&mut self, pool: &mut VecPool) {
        while let Some(Slot::Ready(_)) = self.slots.front() {
            if let Some(Slot::Ready(v)) = self.slots.pop_front() {
                self.wbuf.extend_from_slice(&v);
                pool.put(v);
            }
            self.done_seq += 1;
        }
    }
}

/// Reusable byte vectors for replies that must wait in a slot.
#[derive(Default)]
pub(crate) struct VecPool {
    free: Vec<Vec<u8>>,
}

impl VecPool {
    /// Vectors larger than this are dropped rather than kept.
    const KEEP_CAP: usize = 64 * 1024;
    const KEEP_COUNT: usize = 4096;

    pub fn get(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_default()
    }

    pub fn put(&mut self, mut v: Vec<u8>) {
        if v.capacity() <= Self::KEEP_CAP && self.free.len() < Self::KEEP_COUNT {
            v.clear();
            self.free.push(v);
        }
    }
}
