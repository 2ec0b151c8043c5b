//! The execution point: the one call through which every keyed command
//! runs, whatever brought it (inline on the home shard, from a peer's ring,
//! deferred behind a lock, inside a transaction, run by copy on a scratch
//! shard). It hands the command a [`Sink`]; what the command did comes back
//! through it: the reply bytes, and the effects a log or a replica must
//! replay. Statistics are taken behind this call, once per command (the
//! service times it), and nothing else in the runtime calls
//! [`Service::exec`].

use crate::service::{ClientCtx, Service};
use kevy_resp::Args;

/// What a command reports besides its reply.
pub struct Sink<'a> {
    /// The reply bytes for the command's own connection.
    pub out: &'a mut Vec<u8>,
    /// The shard's effects stream.
    pub effects: &'a mut Effects,
    /// Which part this is of a command split over shards (MGET, DEL, …):
    /// part 0 is the call statistics count; other parts add their time.
    pub part: u32,
}

/// One shard's effects stream: the writes a log or a replica must replay,
/// in the order the shard applied them, as RESP arrays, each database
/// change preceded by a `SELECT`. An effect is deterministic (a command
/// whose outcome depends on randomness or on the clock is recorded as what
/// it did) and is recorded only when it changed something.
///
/// Nothing is collected while no consumer is attached (`enabled` is
/// false), so a server without persistence or replicas pays one branch per
/// write.
#[derive(Default, Debug)]
pub struct Effects {
    enabled: bool,
    buf: Vec<u8>,
    /// Database the last recorded effect applies to.
    db: Option<u32>,
    count: u64,
}

impl Effects {
    /// Starts or stops collecting (a consumer attaching or leaving).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.buf.clear();
            self.db = None;
        }
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records one effect: `argv` applied to database `db`.
    pub fn emit<'a>(&mut self, db: u32, argv: impl ExactSizeIterator<Item = &'a [u8]>) {
        if !self.enabled {
            return;
        }
        self.select(db);
        push_array(&mut self.buf, argv);
        self.count += 1;
    }

    /// Records `count` effects already encoded as RESP arrays, all applied
    /// to database `db` (a command that states its own effects, see
    /// kevy-server's `propagate`).
    pub fn emit_resp(&mut self, db: u32, resp: &[u8], count: u64) {
        if !self.enabled || count == 0 {
            return;
        }
        self.select(db);
        self.buf.extend_from_slice(resp);
        self.count += count;
    }

    fn select(&mut self, db: u32) {
        if self.db != Some(db) {
            let db_text = db.to_string();
            push_array(
                &mut self.buf,
                [&b"SELECT"[..], db_text.as_bytes()].into_iter(),
            );
            self.db = Some(db);
        }
    }

    /// Effects recorded since the last take, as RESP, and how many.
    pub fn take(&mut self) -> (Vec<u8>, u64) {
        (
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.count),
        )
    }
}

fn push_array<'a>(buf: &mut Vec<u8>, argv: impl ExactSizeIterator<Item = &'a [u8]>) {
    buf.push(b'*');
    buf.extend_from_slice(argv.len().to_string().as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in argv {
        buf.push(b'$');
        buf.extend_from_slice(a.len().to_string().as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Runs a keyed or whole-keyspace command on `shard`, its reply appended
/// to `out`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<S: Service>(
    svc: &S,
    shard: &mut S::Shard,
    effects: &mut Effects,
    client: &ClientCtx,
    cmd: S::Cmd,
    args: Args<'_>,
    part: u32,
    out: &mut Vec<u8>,
) {
    let mut sink = Sink { out, effects, part };
    svc.exec(shard, client, cmd, args, &mut sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_are_resp_with_select_on_database_change() {
        let mut e = Effects::default();
        e.emit(0, [&b"SET"[..], b"k", b"v"].into_iter());
        assert_eq!(e.take(), (Vec::new(), 0), "nothing while disabled");
        e.set_enabled(true);
        e.emit(0, [&b"SET"[..], b"k", b"v"].into_iter());
        e.emit(0, [&b"DEL"[..], b"k"].into_iter());
        e.emit(3, [&b"DEL"[..], b"x"].into_iter());
        let (bytes, n) = e.take();
        assert_eq!(n, 3);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nx\r\n"
        );
    }
}
