//! Streams (Redis's `t_stream.c`): an append-only log of entries, each an
//! id and field-value pairs, plus consumer groups.
//!
//! Entries live in nodes keyed by their first ("master") id, in a sorted
//! deque standing in for Redis's radix tree (a stream grows at the back
//! and is trimmed at the front; lookups bisect). Each node is a Redis
//! listpack in Redis's own stream node layout, byte for byte: a master
//! entry (live count, deleted count, the master fields, a 0 terminator),
//! then entries of `flags, ms-delta, seq-delta, [num-fields, field,] value
//! …, lp-count`, an entry whose fields are the master's storing values
//! only. The common append-only case (same fields every time) thus costs
//! a few bytes per entry beyond its values, snapshots write nodes as they
//! are, and nodes split and trim exactly where Redis's do
//! (`stream-node-max-bytes`, `stream-node-max-entries`), so `~` trimming
//! is node-granular as Redis's. Deletion only flags an entry; a node whose
//! last live entry goes is dropped.

use crate::num;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A stream entry id: milliseconds and a sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The id right after this one, `None` past the last.
    pub fn next(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The id right before this one, `None` before the first.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// 128-bit big-endian form: the radix tree key and the RDB encoding.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: &[u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }

    /// `ms-seq`, as replies show it.
    pub fn format(self, out: &mut Vec<u8>) {
        let mut buf = itoa_u64(self.ms);
        out.extend_from_slice(buf.as_bytes());
        out.push(b'-');
        buf = itoa_u64(self.seq);
        out.extend_from_slice(buf.as_bytes());
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

fn itoa_u64(v: u64) -> String {
    v.to_string()
}

// ---- node limits -----------------------------------------------------------

/// `stream-node-max-bytes` and `stream-node-max-entries`: when the last
/// node is full and an append starts a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// 0: Redis's cap only.
    pub max_bytes: usize,
    /// 0: no limit.
    pub max_entries: i64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis caps a node at 1 GB whatever the setting (0 included), so that a
/// listpack's 32-bit size never overflows.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

// ---- the listpack byte format ------------------------------------------------

/// Redis's listpack: a 6-byte header (total bytes, element count), the
/// elements (an encoding byte, the data, a back-length), and 0xFF.
pub mod lp {
    use crate::num;

    pub const HEADER: usize = 6;
    pub const EOF: u8 = 0xff;
    /// The element count a header holds once it no longer fits.
    pub const COUNT_UNKNOWN: u16 = 65535;

    /// One element as stored: listpacks hold canonical integers as such.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Val<'a> {
        Int(i64),
        Str(&'a [u8]),
    }

    impl Val<'_> {
        pub fn as_int(self) -> i64 {
            match self {
                Val::Int(v) => v,
                Val::Str(s) => num::parse_i64(s).unwrap_or(0),
            }
        }

        /// The element's bytes; an integer is formatted into `buf`.
        pub fn bytes<'b>(&'b self, buf: &'b mut [u8; num::MAX_I64_CHARS]) -> &'b [u8] {
            match self {
                Val::Int(v) => num::format_i64(buf, *v),
                Val::Str(s) => s,
            }
        }

        pub fn eq_bytes(&self, b: &[u8]) -> bool {
            let mut buf = [0u8; num::MAX_I64_CHARS];
            self.bytes(&mut buf) == b
        }

        pub fn to_vec(&self) -> Vec<u8> {
            let mut buf = [0u8; num::MAX_I64_CHARS];
            self.bytes(&mut buf).to_vec()
        }
    }

    /// An empty listpack.
    pub fn new() -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, EOF]);
        set_total(&mut b);
        b
    }

    fn set_total(b: &mut [u8]) {
        let total = b.len() as u32;
        b[0..4].copy_from_slice(&total.to_le_bytes());
    }

    pub fn count(b: &[u8]) -> u16 {
        u16::from_le_bytes([b[4], b[5]])
    }

    fn add_count(b: &mut [u8], n: usize) {
        let c = count(b);
        if c != COUNT_UNKNOWN {
            let c = (c as usize + n).min(COUNT_UNKNOWN as usize) as u16;
            b[4..6].copy_from_slice(&c.to_le_bytes());
        }
    }

    fn backlen_size(l: usize) -> usize {
        match l {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        }
    }

    fn push_backlen(out: &mut Vec<u8>, l: usize) {
        let groups = backlen_size(l);
        for g in (0..groups).rev() {
            let bits = ((l >> (7 * g)) & 127) as u8;
            out.push(if g == groups - 1 { bits } else { bits | 128 });
        }
    }

    /// Encodes one integer element, back-length included.
    pub fn encode_int(out: &mut Vec<u8>, v: i64) {
        let start = out.len();
        if (0..=127).contains(&v) {
            out.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            out.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        let l = out.len() - start;
        push_backlen(out, l);
    }

    /// Encodes one string element as `lpAppend` does: a canonical integer
    /// becomes an integer element.
    pub fn encode(out: &mut Vec<u8>, s: &[u8]) {
        if let Some(v) = num::parse_i64(s) {
            return encode_int(out, v);
        }
        let start = out.len();
        let n = s.len();
        if n < 64 {
            out.push(0x80 | n as u8);
        } else if n < 4096 {
            out.extend_from_slice(&[0xe0 | (n >> 8) as u8, n as u8]);
        } else {
            out.push(0xf0);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        out.extend_from_slice(s);
        let l = out.len() - start;
        push_backlen(out, l);
    }

    /// Bytes [`encode`] writes for `s`.
    pub fn encoded_size(s: &[u8]) -> usize {
        let enc = match num::parse_i64(s) {
            Some(v) => int_size(v),
            None if s.len() < 64 => 1 + s.len(),
            None if s.len() < 4096 => 2 + s.len(),
            None => 5 + s.len(),
        };
        enc + backlen_size(enc)
    }

    fn int_size(v: i64) -> usize {
        if (0..=127).contains(&v) {
            1
        } else if (-4096..=4095).contains(&v) {
            2
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            3
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            4
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            5
        } else {
            9
        }
    }

    fn sign_extend(v: u64, bits: u32) -> i64 {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }

    fn le(b: &[u8]) -> u64 {
        b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64)
    }

    /// The element at `at` and the offset of the next one. The listpack
    /// must be well formed (the store builds it; a loaded one is checked
    /// by [`validate`] first).
    #[inline]
    pub fn get(b: &[u8], at: usize) -> (Val<'_>, usize) {
        let e = b[at];
        let (v, len) = match e {
            0x00..=0x7f => (Val::Int(e as i64), 1),
            0x80..=0xbf => {
                let n = (e & 0x3f) as usize;
                (Val::Str(&b[at + 1..at + 1 + n]), 1 + n)
            }
            0xc0..=0xdf => {
                let v = (((e & 0x1f) as u64) << 8) | b[at + 1] as u64;
                (Val::Int(sign_extend(v, 13)), 2)
            }
            0xe0..=0xef => {
                let n = (((e & 0x0f) as usize) << 8) | b[at + 1] as usize;
                (Val::Str(&b[at + 2..at + 2 + n]), 2 + n)
            }
            0xf0 => {
                let n = le(&b[at + 1..at + 5]) as usize;
                (Val::Str(&b[at + 5..at + 5 + n]), 5 + n)
            }
            0xf1 => (Val::Int(sign_extend(le(&b[at + 1..at + 3]), 16)), 3),
            0xf2 => (Val::Int(sign_extend(le(&b[at + 1..at + 4]), 24)), 4),
            0xf3 => (Val::Int(sign_extend(le(&b[at + 1..at + 5]), 32)), 5),
            _ => (Val::Int(le(&b[at + 1..at + 9]) as i64), 9),
        };
        (v, at + len + backlen_size(len))
    }

    /// The integer at `at` and the next offset.
    #[inline]
    pub fn get_int(b: &[u8], at: usize) -> (i64, usize) {
        let (v, next) = get(b, at);
        (v.as_int(), next)
    }

    /// Offset of the element after the one at `at`.
    #[inline]
    pub fn skip(b: &[u8], at: usize) -> usize {
        get(b, at).1
    }

    /// Replaces the integer element at `at` with `v`, moving what follows
    /// when its width changes.
    pub fn replace_int(b: &mut Vec<u8>, at: usize, v: i64) {
        let end = skip(b, at);
        let mut enc = Vec::with_capacity(12);
        encode_int(&mut enc, v);
        if enc.len() == end - at {
            b[at..end].copy_from_slice(&enc);
        } else {
            b.splice(at..end, enc);
            set_total(b);
        }
    }

    /// Appends elements built by [`encode`] (`count` of them, in `elems`)
    /// before the end marker.
    pub fn append_raw(b: &mut Vec<u8>, elems: &[u8], count: usize) {
        b.pop();
        b.extend_from_slice(elems);
        seal(b, count);
    }

    /// Ends a listpack whose end marker was popped and `count` elements
    /// encoded in its place: the marker and the header again.
    pub fn seal(b: &mut Vec<u8>, count: usize) {
        b.push(EOF);
        set_total(b);
        add_count(b, count);
    }

    /// An empty listpack with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Vec<u8> {
        let mut b = Vec::with_capacity(n.max(HEADER + 1));
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, EOF]);
        set_total(&mut b);
        b
    }

    /// Checks that `b` is a well-formed listpack (sizes, encodings,
    /// back-lengths, count); returns its element count.
    pub fn validate(b: &[u8]) -> Option<usize> {
        if b.len() < HEADER + 1 || le(&b[0..4]) as usize != b.len() || b[b.len() - 1] != EOF {
            return None;
        }
        let end = b.len() - 1;
        let mut at = HEADER;
        let mut n = 0usize;
        while at < end {
            let e = b[at];
            let need = match e {
                0x00..=0x7f => 1,
                0x80..=0xbf => 1 + (e & 0x3f) as usize,
                0xc0..=0xdf => 2,
                0xe0..=0xef => {
                    if at + 1 >= end {
                        return None;
                    }
                    2 + ((((e & 0x0f) as usize) << 8) | b[at + 1] as usize)
                }
                0xf0 => {
                    if at + 5 > end {
                        return None;
                    }
                    5usize.checked_add(le(&b[at + 1..at + 5]) as usize)?
                }
                0xf1 => 3,
                0xf2 => 4,
                0xf3 => 5,
                0xf4 => 9,
                _ => return None,
            };
            let next = at.checked_add(need)?.checked_add(backlen_size(need))?;
            if next > end {
                return None;
            }
            // The back-length must read back to the element's size.
            let mut l = 0usize;
            let mut i = next - 1;
            let mut shift = 0;
            loop {
                l |= ((b[i] & 127) as usize) << shift;
                if b[i] & 128 == 0 {
                    break;
                }
                shift += 7;
                if i == at + need {
                    return None;
                }
                i -= 1;
            }
            if l != need || i != at + need {
                return None;
            }
            n += 1;
            at = next;
        }
        let c = count(b);
        if c != COUNT_UNKNOWN && c as usize != n {
            return None;
        }
        Some(n)
    }
}

use lp::Val;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

// ---- consumer groups -----------------------------------------------------------

/// The entries-read counter of a group whose position is not known
/// (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A delivered, not yet acknowledged entry (Redis's `streamNACK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    pub consumer: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix ms of the consumer's last activity.
    pub seen_time: i64,
    /// The ids it holds in the group's pending list.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer, created with `now` as its seen time when missing;
    /// the bool says it was created.
    pub fn consumer(&mut self, name: &[u8], now: i64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(name.to_vec())
            .or_insert_with(|| Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            });
        (c, created)
    }

    /// Acknowledges `id`: drops it from the group's and its consumer's
    /// pending lists. Whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a consumer; the count of entries it had pending (dropped
    /// from the group's list too).
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Estimated from the counts (the update path asks on every write, so
    /// this must not walk the pending list): a B-tree slot and the
    /// owner's name per pending entry.
    fn heap_bytes(&self) -> usize {
        let pel = self.pel.len() * (64 + 16);
        let cons = self
            .consumers
            .iter()
            .map(|(k, c)| 64 + crate::malloc_size(k.len()) + c.pel.len() * 24)
            .sum::<usize>();
        pel + cons
    }
}

// ---- the stream ---------------------------------------------------------------

/// A stream: nodes of entries, counters, consumer groups. See the module
/// docs.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    /// Nodes in id order, by master id. A deque rather than a tree:
    /// appends go to the back and trims take from the front, lookups
    /// bisect, and a node costs 32 bytes here, less than half a B-tree's.
    /// Each listpack is an exact-size buffer that grows by reallocation
    /// (as Redis's do), so no node carries spare capacity.
    nodes: VecDeque<(StreamId, Box<[u8]>)>,
    /// Live entries.
    length: u64,
    pub last_id: StreamId,
    /// The first live entry's id (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
    /// Heap bytes of the nodes' buffers, kept as they change.
    node_heap: usize,
}

/// Why an append was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The id is not greater than the stream's last.
    NotGreater,
}

/// An entry's fields, read straight from its node.
#[derive(Clone)]
pub struct Fields<'a> {
    node: &'a [u8],
    /// Next master field (same-fields entries), else `None`.
    master: Option<usize>,
    at: usize,
    left: usize,
}

impl<'a> Fields<'a> {
    pub fn len(&self) -> usize {
        self.left
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Val<'a>, Val<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let field = match &mut self.master {
            Some(m) => {
                let (f, next) = lp::get(self.node, *m);
                *m = next;
                f
            }
            None => {
                let (f, next) = lp::get(self.node, self.at);
                self.at = next;
                f
            }
        };
        let (v, next) = lp::get(self.node, self.at);
        self.at = next;
        Some((field, v))
    }
}

/// One entry as a node holds it: where its flags sit, its id, its fields.
#[derive(Clone)]
struct Raw<'a> {
    flags_at: usize,
    flags: i64,
    id: StreamId,
    fields: Fields<'a>,
    /// Offset after the entry (past its lp-count).
    end: usize,
}

/// The master entry of a node: counts and fields.
struct Master {
    count: i64,
    deleted: i64,
    nfields: usize,
    fields_at: usize,
    /// Offset of the first entry.
    first: usize,
}

/// Changes a node's listpack in place; its byte sizes before and after.
/// The buffer leaves exact-size, as Redis's `lpInsert` reallocates.
fn edit(node: &mut Box<[u8]>, f: impl FnOnce(&mut Vec<u8>)) -> (usize, usize) {
    let mut v = std::mem::take(node).into_vec();
    let before = v.len();
    f(&mut v);
    let after = v.len();
    *node = v.into_boxed_slice();
    (before, after)
}

fn master(node: &[u8]) -> Master {
    let (count, at) = lp::get_int(node, lp::HEADER);
    let (deleted, at) = lp::get_int(node, at);
    let (nfields, at) = lp::get_int(node, at);
    let fields_at = at;
    let mut p = at;
    for _ in 0..nfields {
        p = lp::skip(node, p);
    }
    // The master entry's terminating 0.
    let first = lp::skip(node, p);
    Master {
        count,
        deleted,
        nfields: nfields as usize,
        fields_at,
        first,
    }
}

/// Reads the entry at `at` of a node with master id `mid`.
fn raw_at<'a>(node: &'a [u8], mid: StreamId, m: &Master, at: usize) -> Raw<'a> {
    let (flags, p) = lp::get_int(node, at);
    let (dms, p) = lp::get_int(node, p);
    let (dseq, p) = lp::get_int(node, p);
    let id = StreamId::new(
        mid.ms.wrapping_add(dms as u64),
        mid.seq.wrapping_add(dseq as u64),
    );
    let (fields, mut end) = if flags & FLAG_SAMEFIELDS != 0 {
        let f = Fields {
            node,
            master: Some(m.fields_at),
            at: p,
            left: m.nfields,
        };
        let mut e = p;
        for _ in 0..m.nfields {
            e = lp::skip(node, e);
        }
        (f, e)
    } else {
        let (n, p) = lp::get_int(node, p);
        let f = Fields {
            node,
            master: None,
            at: p,
            left: n as usize,
        };
        let mut e = p;
        for _ in 0..2 * n {
            e = lp::skip(node, e);
        }
        (f, e)
    };
    end = lp::skip(node, end);
    Raw {
        flags_at: at,
        flags,
        id,
        fields,
        end,
    }
}

/// Every entry of a node, deleted ones included, in order.
fn node_entries<'a>(node: &'a [u8], mid: StreamId) -> impl Iterator<Item = Raw<'a>> + 'a {
    let m = master(node);
    let end = node.len() - 1;
    let mut at = m.first;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let r = raw_at(node, mid, &m, at);
        at = r.end;
        Some(r)
    })
}

/// The id of a node's last entry (deleted or not).
fn node_last_id(node: &[u8], mid: StreamId) -> StreamId {
    node_entries(node, mid).last().map_or(mid, |r| r.id)
}

/// Trimming strategies of XADD and XTRIM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// How many nodes start at or before `id`: the node that may hold
    /// `id` is the one before that position.
    fn upto(&self, id: StreamId) -> usize {
        self.nodes.partition_point(|(k, _)| *k <= id)
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The radix tree's node count for the current keys (XINFO's
    /// `radix-tree-nodes`): the nodes of a compressed trie of the 16-byte
    /// keys, as Redis's rax builds it.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.iter().map(|(k, _)| k.to_be_bytes()).collect();
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            // `keys` share their first `depth` bytes: one rax node here.
            if keys.len() <= 1 || depth == 16 {
                // A single key: a compressed node for the rest and its leaf.
                return if depth == 16 || keys.is_empty() { 1 } else { 2 };
            }
            // Follow the common prefix: one compressed node for all of it.
            let mut d = depth;
            while d < 16 && keys.iter().all(|k| k[d] == keys[0][d]) {
                d += 1;
            }
            let mut n = if d > depth { 1 } else { 0 };
            if d == 16 {
                return n + 1;
            }
            // A branching node, then one subtree per distinct byte.
            n += 1;
            let mut i = 0;
            while i < keys.len() {
                let mut j = i + 1;
                while j < keys.len() && keys[j][d] == keys[i][d] {
                    j += 1;
                }
                n += count(&keys[i..j], d + 1);
                i = j;
            }
            n
        }
        if keys.is_empty() {
            return 1;
        }
        count(&keys, 0)
    }

    /// Heap bytes held (nodes, the tree, groups), estimated as the
    /// allocator sees them.
    pub fn mem_usage(&self) -> usize {
        let tree = crate::malloc_size(
            self.nodes.capacity() * std::mem::size_of::<(StreamId, Box<[u8]>)>(),
        );
        let groups = self
            .groups
            .iter()
            .map(|(k, g)| 96 + crate::malloc_size(k.len()) + g.heap_bytes())
            .sum::<usize>();
        self.node_heap + tree + groups
    }

    fn account(&mut self, before: usize, after: usize) {
        self.node_heap = self.node_heap + crate::malloc_size(after) - crate::malloc_size(before);
    }

    /// The id XADD gives an entry: `ms-*` (`seq` `None`) or `*` (`ms`
    /// `None` too), past the last id. `None` when no id is left.
    pub fn next_id(&self, now_ms: u64, ms: Option<u64>, seq: Option<u64>) -> Option<StreamId> {
        let last = self.last_id;
        match (ms, seq) {
            (None, _) => {
                if now_ms > last.ms {
                    Some(StreamId::new(now_ms, 0))
                } else {
                    last.next()
                }
            }
            (Some(ms), None) => {
                if ms > last.ms {
                    Some(StreamId::new(ms, 0))
                } else if ms == last.ms {
                    if last.seq == u64::MAX {
                        None
                    } else {
                        Some(StreamId::new(ms, last.seq + 1))
                    }
                } else {
                    None
                }
            }
            (Some(ms), Some(seq)) => Some(StreamId::new(ms, seq)),
        }
    }

    /// Appends an entry with id `id` (greater than the last id) and
    /// `pairs` (field, value, field, value, …).
    pub fn append(
        &mut self,
        id: StreamId,
        pairs: &[&[u8]],
        limits: NodeLimits,
    ) -> Result<(), AddError> {
        self.append_with(id, pairs.len(), |i| pairs[i], limits)
    }

    /// [`append`](Self::append) with the `n` fields and values handed out
    /// by `pair(i)`: XADD passes its arguments without gathering them.
    /// The entry is encoded straight into the node.
    pub fn append_with<'p>(
        &mut self,
        id: StreamId,
        n: usize,
        pair: impl Fn(usize) -> &'p [u8],
        limits: NodeLimits,
    ) -> Result<(), AddError> {
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        let nfields = n / 2;
        let max_bytes = match limits.max_bytes {
            0 => LISTPACK_MAX_SIZE,
            m => m.min(LISTPACK_MAX_SIZE),
        };
        let totelelen: usize = (0..n).map(|i| pair(i).len()).sum();
        // The last node takes the entry unless it is full (Redis's
        // `streamAppendItem`: bytes before the entry plus the raw length
        // of its fields and values, live and deleted entries counted).
        let mut target = None;
        if let Some((mid, node)) = self.nodes.back() {
            let mid = *mid;
            let m = master(node);
            let full = node.len() + totelelen >= max_bytes
                || (limits.max_entries != 0 && m.count + m.deleted >= limits.max_entries);
            if !full {
                target = Some((mid, m));
            }
        }
        match target {
            Some((mid, m)) => {
                let slot = &mut self.nodes.back_mut().expect("last node").1;
                let same = m.nfields == nfields && {
                    let node: &[u8] = slot;
                    let mut at = m.fields_at;
                    (0..nfields).all(|i| {
                        let (f, next) = lp::get(node, at);
                        at = next;
                        f.eq_bytes(pair(2 * i))
                    })
                };
                let (before, after) = edit(slot, |node| {
                    node.reserve_exact(16 + totelelen + 4 * n);
                    node.pop();
                    let flags = if same { FLAG_SAMEFIELDS } else { 0 };
                    lp::encode_int(node, flags);
                    lp::encode_int(node, id.ms.wrapping_sub(mid.ms) as i64);
                    lp::encode_int(node, id.seq.wrapping_sub(mid.seq) as i64);
                    let elems;
                    if same {
                        for i in 0..nfields {
                            lp::encode(node, pair(2 * i + 1));
                        }
                        elems = 4 + nfields;
                        lp::encode_int(node, (nfields + 3) as i64);
                    } else {
                        lp::encode_int(node, nfields as i64);
                        for i in 0..2 * nfields {
                            lp::encode(node, pair(i));
                        }
                        elems = 5 + 2 * nfields;
                        lp::encode_int(node, (2 * nfields + 4) as i64);
                    }
                    lp::seal(node, elems);
                    lp::replace_int(node, lp::HEADER, m.count + 1);
                });
                self.account(before, after);
            }
            None => {
                let mut node = lp::with_capacity(16 + 2 * totelelen + 8 * n);
                node.pop();
                lp::encode_int(&mut node, 1);
                lp::encode_int(&mut node, 0);
                lp::encode_int(&mut node, nfields as i64);
                for i in 0..nfields {
                    lp::encode(&mut node, pair(2 * i));
                }
                lp::encode_int(&mut node, 0);
                lp::encode_int(&mut node, FLAG_SAMEFIELDS);
                lp::encode_int(&mut node, 0);
                lp::encode_int(&mut node, 0);
                for i in 0..nfields {
                    lp::encode(&mut node, pair(2 * i + 1));
                }
                lp::encode_int(&mut node, (nfields + 3) as i64);
                lp::seal(&mut node, 4 + nfields + 4 + nfields);
                let node = node.into_boxed_slice();
                self.account(0, node.len());
                self.nodes.push_back((id, node));
            }
        }
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        Ok(())
    }

    /// Calls `f` on each live entry with an id in `lo..=hi`, ascending or
    /// (`rev`) descending, until it returns false.
    pub fn for_each<'a>(
        &'a self,
        lo: StreamId,
        hi: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, Fields<'a>) -> bool,
    ) {
        if lo > hi {
            return;
        }
        if !rev {
            // The node that may hold `lo`: the last one starting at or
            // before it.
            // The node that may hold `lo`: the last one starting at or
            // before it.
            let start = self.upto(lo).saturating_sub(1);
            for (mid, node) in self.nodes.range(start..) {
                let mid = *mid;
                if mid > hi {
                    return;
                }
                for r in node_entries(node, mid) {
                    if r.id > hi {
                        return;
                    }
                    if r.id >= lo && r.flags & FLAG_DELETED == 0 && !f(r.id, r.fields) {
                        return;
                    }
                }
            }
        } else {
            let mut offsets: Vec<Raw<'a>> = Vec::new();
            for (mid, node) in self.nodes.range(..self.upto(hi)).rev() {
                let mid = *mid;
                offsets.clear();
                offsets.extend(node_entries(node, mid));
                for r in offsets.drain(..).rev() {
                    if r.id < lo {
                        return;
                    }
                    if r.id <= hi && r.flags & FLAG_DELETED == 0 && !f(r.id, r.fields) {
                        return;
                    }
                }
            }
        }
    }

    /// The live entry `id`'s fields.
    pub fn get(&self, id: StreamId) -> Option<Fields<'_>> {
        let mut out = None;
        self.for_each(id, id, false, |_, f| {
            out = Some(f);
            false
        });
        out
    }

    /// The first or last live entry's id.
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        let mut out = None;
        self.for_each(StreamId::MIN, StreamId::MAX, last, |id, _| {
            out = Some(id);
            false
        });
        out
    }

    /// Deletes entry `id`; whether it was there. Keeps `first_id` and
    /// `max_deleted` as XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(idx) = self.upto(id).checked_sub(1) else {
            return false;
        };
        let (mid, node) = &self.nodes[idx];
        let mid = *mid;
        let Some(r) = node_entries(node, mid).find(|r| r.id == id) else {
            return false;
        };
        if r.flags & FLAG_DELETED != 0 {
            return false;
        }
        let flags_at = r.flags_at;
        let flags = r.flags;
        let m = master(node);
        if m.count == 1 {
            let (_, node) = self.nodes.remove(idx).expect("node");
            self.account(node.len(), 0);
        } else {
            let (before, after) = edit(&mut self.nodes[idx].1, |node| {
                // Flags fit one byte either way.
                lp::replace_int(node, flags_at, flags | FLAG_DELETED);
                lp::replace_int(node, lp::HEADER, m.count - 1);
                let at = lp::skip(node, lp::HEADER);
                lp::replace_int(node, at, m.deleted + 1);
            });
            self.account(before, after);
        }
        self.length -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge_id(false).unwrap_or(StreamId::MIN);
        }
        true
    }

    /// Trims as XADD and XTRIM do (Redis's `streamTrim`): whole nodes
    /// from the head while they may all go; then, unless `approx`, single
    /// entries of the next node. `limit` (0: none) bounds the entries
    /// removed with whole nodes. Returns the count removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((mid, node)) = self.nodes.front() else {
                break;
            };
            let mid = *mid;
            let m = master(node);
            let entries = m.count as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node_last_id(node, mid) < min,
            };
            if remove {
                let (_, node) = self.nodes.pop_front().expect("node");
                self.account(node.len(), 0);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries of this node deleted, oldest first.
            let mut marks = Vec::new();
            let mut length = self.length;
            for r in node_entries(node, mid) {
                let stop = match how {
                    Trim::MaxLen(max) => length <= max,
                    Trim::MinId(min) => r.id >= min,
                };
                if stop {
                    break;
                }
                if r.flags & FLAG_DELETED == 0 {
                    marks.push((r.flags_at, r.flags | FLAG_DELETED));
                    length -= 1;
                }
            }
            let n = marks.len() as u64;
            let (before, after) = edit(&mut self.nodes.front_mut().expect("node").1, |node| {
                for (at, flags) in marks {
                    lp::replace_int(node, at, flags);
                }
                lp::replace_int(node, lp::HEADER, m.count - n as i64);
                let at = lp::skip(node, lp::HEADER);
                lp::replace_int(node, at, m.deleted + n as i64);
            });
            self.account(before, after);
            self.length -= n;
            deleted += n;
            break;
        }
        if deleted > 0 {
            self.first_id = if self.length == 0 {
                StreamId::MIN
            } else {
                self.edge_id(false).unwrap_or(StreamId::MIN)
            };
        }
        deleted
    }

    /// The entries-read counter of a group whose last id is `id`, when the
    /// stream's counters tell it (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`), else
    /// [`INVALID_ENTRIES_READ`].
    pub fn estimate_entries_read(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            // No tombstone among the live entries.
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            }
            if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// Whether a deleted entry may lie in `start..` (Redis's
    /// `streamRangeHasTombstones` with no end).
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// A group's lag (XINFO), `None` when it cannot be told.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.has_tombstones_from(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        match self.estimate_entries_read(g.last_id) {
            INVALID_ENTRIES_READ => None,
            n => Some(self.entries_added as i64 - n),
        }
    }

    /// The nodes, master id and listpack (RDB, DUMP).
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> {
        self.nodes.iter().map(|(k, v)| (*k, &v[..]))
    }

    /// Adds a node as loaded from a snapshot, after checking that it is a
    /// well-formed stream node with ids in order past the previous
    /// node's. Returns its live entries, `None` when it is malformed.
    pub fn load_node(&mut self, mid: StreamId, node: Vec<u8>) -> Option<u64> {
        lp::validate(&node)?;
        let live = check_node(&node, mid)?;
        if let Some((prev_mid, prev)) = self.nodes.back() {
            let prev_mid = *prev_mid;
            if mid <= prev_mid || mid <= node_last_id(prev, prev_mid) {
                return None;
            }
        }
        let node = node.into_boxed_slice();
        self.account(0, node.len());
        self.nodes.push_back((mid, node));
        self.length += live;
        Some(live)
    }

    /// Sets the counters a snapshot carries (after its nodes).
    pub fn set_loaded_len(&mut self, len: u64) {
        self.length = len;
    }
}

/// Walks a loaded node's entries with bounds checks: the master entry's
/// layout, each entry's element counts and lp-count, ids ascending from
/// `mid`, live count as declared. Returns the live count.
fn check_node(node: &[u8], mid: StreamId) -> Option<u64> {
    let end = node.len() - 1;
    let next = |at: usize| -> Option<(Val<'_>, usize)> {
        if at >= end {
            None
        } else {
            Some(lp::get(node, at))
        }
    };
    let int = |at: usize| -> Option<(i64, usize)> {
        match next(at)? {
            (Val::Int(v), n) => Some((v, n)),
            _ => None,
        }
    };
    let (count, at) = int(lp::HEADER)?;
    let (deleted, at) = int(at)?;
    let (nfields, mut at) = int(at)?;
    if count < 0 || deleted < 0 || nfields < 0 {
        return None;
    }
    for _ in 0..nfields {
        at = next(at)?.1;
    }
    let (zero, mut at) = int(at)?;
    if zero != 0 {
        return None;
    }
    let (mut live, mut dead) = (0i64, 0i64);
    let mut prev: Option<StreamId> = None;
    while at < end {
        let (flags, p) = int(at)?;
        let (dms, p) = int(p)?;
        let (dseq, mut p) = int(p)?;
        let id = StreamId::new(
            mid.ms.wrapping_add(dms as u64),
            mid.seq.wrapping_add(dseq as u64),
        );
        if prev.is_some_and(|q| id <= q) || (prev.is_none() && id < mid) {
            return None;
        }
        prev = Some(id);
        let elems = if flags & FLAG_SAMEFIELDS != 0 {
            nfields
        } else {
            let (n, q) = int(p)?;
            if n < 0 {
                return None;
            }
            p = q;
            2 * n
        };
        for _ in 0..elems {
            p = next(p)?.1;
        }
        let (lpc, q) = int(p)?;
        let expect = if flags & FLAG_SAMEFIELDS != 0 {
            nfields + 3
        } else {
            elems + 4
        };
        if lpc != expect {
            return None;
        }
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
        }
        at = q;
    }
    if live != count || dead != deleted {
        return None;
    }
    Some(live as u64)
}

/// Formats an id into a small buffer without allocating.
pub fn format_id(id: StreamId, buf: &mut [u8; 41]) -> &[u8] {
    let mut a = [0u8; num::MAX_I64_CHARS];
    let mut n = 0;
    for part in [id.ms, id.seq] {
        if n > 0 {
            buf[n] = b'-';
            n += 1;
        }
        let s = fmt_u64(&mut a, part);
        buf[n..n + s.len()].copy_from_slice(s);
        n += s.len();
    }
    &buf[..n]
}

fn fmt_u64(buf: &mut [u8; num::MAX_I64_CHARS], mut v: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn fields(f: Fields<'_>) -> Pairs {
        f.map(|(a, b)| (a.to_vec(), b.to_vec())).collect()
    }

    fn all(s: &Stream, rev: bool) -> Vec<(StreamId, Pairs)> {
        let mut v = Vec::new();
        s.for_each(StreamId::MIN, StreamId::MAX, rev, |id, f| {
            v.push((id, fields(f)));
            true
        });
        v
    }

    #[test]
    fn listpack_elements_round_trip() {
        let vals: &[&[u8]] = &[
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"40000",
            b"-8388608",
            b"2147483647",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"01",
            b"-0",
            b"hello",
            &[b'x'; 63],
            &[b'y'; 64],
            &[b'z'; 5000],
        ];
        let mut b = lp::new();
        let mut e = Vec::new();
        for v in vals {
            let before = e.len();
            lp::encode(&mut e, v);
            assert_eq!(e.len() - before, lp::encoded_size(v));
        }
        lp::append_raw(&mut b, &e, vals.len());
        assert_eq!(lp::validate(&b), Some(vals.len()));
        let mut at = lp::HEADER;
        for v in vals {
            let (got, next) = lp::get(&b, at);
            assert!(got.eq_bytes(v), "{:?}", String::from_utf8_lossy(v));
            at = next;
        }
        assert_eq!(at, b.len() - 1);
        // Widening an integer in place moves the rest.
        lp::replace_int(&mut b, lp::HEADER, 100000);
        assert_eq!(lp::get(&b, lp::HEADER).0, Val::Int(100000));
        assert_eq!(lp::validate(&b), Some(vals.len()));
    }

    #[test]
    fn nodes_split_at_the_entry_limit() {
        let mut s = Stream::new();
        for i in 1..=250u64 {
            s.append(StreamId::new(i, 0), &[b"f", b"v"], NodeLimits::default())
                .unwrap();
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.len(), 250);
        // `~` trimming drops whole nodes only.
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.first_id, StreamId::new(131, 0));
        assert_eq!(
            s.append(StreamId::new(5, 0), &[b"a", b"b"], NodeLimits::default()),
            Err(AddError::NotGreater)
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, u8, bool),
        Del(u16),
        TrimLen(u16, bool),
        TrimMin(u16, bool),
        Range(u16, u16, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..3, 1u8..4, any::<bool>()).prop_map(|(a, b, c)| Op::Add(a, b, c)),
            2 => (0u16..400).prop_map(Op::Del),
            1 => (0u16..300, any::<bool>()).prop_map(|(a, b)| Op::TrimLen(a, b)),
            1 => (0u16..400, any::<bool>()).prop_map(|(a, b)| Op::TrimMin(a, b)),
            2 => (0u16..400, 0u16..400, any::<bool>()).prop_map(|(a, b, c)| Op::Range(a, b, c)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Random appends, deletions, trims and ranges agree with an
        /// ordered map (approximate trims remove a prefix of at most what
        /// the exact trim removes).
        #[test]
        fn stream_matches_an_ordered_map(ops in proptest::collection::vec(op(), 1..300),
                                         max_entries in 1i64..12) {
            let limits = NodeLimits { max_bytes: 4096, max_entries };
            let mut s = Stream::new();
            let mut model: BTreeMap<StreamId, Pairs> = BTreeMap::new();
            let mut next = 1u64;
            for op in ops {
                match op {
                    Op::Add(kind, n, big) => {
                        let id = StreamId::new(next / 2, next % 2);
                        next += 1;
                        let mut pairs: Vec<Vec<u8>> = Vec::new();
                        for i in 0..n {
                            let f = if kind == 0 { format!("f{i}") } else { format!("g{kind}{i}") };
                            let v = if big { "x".repeat(100 * i as usize) } else { format!("{}", next * 7 + i as u64) };
                            pairs.push(f.into_bytes());
                            pairs.push(v.into_bytes());
                        }
                        let refs: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
                        s.append(id, &refs, limits).unwrap();
                        model.insert(id, pairs.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect());
                    }
                    Op::Del(i) => {
                        let id = StreamId::new(i as u64 / 2, i as u64 % 2);
                        prop_assert_eq!(s.delete(id), model.remove(&id).is_some());
                    }
                    Op::TrimLen(n, approx) => {
                        let removed = s.trim(Trim::MaxLen(n as u64), approx, 0);
                        for _ in 0..removed {
                            let k = *model.keys().next().unwrap();
                            model.remove(&k);
                        }
                        if !approx {
                            prop_assert!(model.len() as u64 <= n as u64);
                        }
                    }
                    Op::TrimMin(i, approx) => {
                        let min = StreamId::new(i as u64 / 2, i as u64 % 2);
                        let removed = s.trim(Trim::MinId(min), approx, 0);
                        let below = model.range(..min).count() as u64;
                        prop_assert!(removed <= below);
                        if !approx {
                            prop_assert_eq!(removed, below);
                        }
                        for _ in 0..removed {
                            let k = *model.keys().next().unwrap();
                            model.remove(&k);
                        }
                    }
                    Op::Range(a, b, rev) => {
                        let lo = StreamId::new(a as u64 / 2, a as u64 % 2);
                        let hi = StreamId::new(b as u64 / 2, b as u64 % 2);
                        let mut got = Vec::new();
                        s.for_each(lo, hi, rev, |id, f| { got.push((id, fields(f))); true });
                        let mut want: Vec<_> = if lo <= hi {
                            model.range(lo..=hi).map(|(k, v)| (*k, v.clone())).collect()
                        } else { Vec::new() };
                        if rev { want.reverse(); }
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(s.len(), model.len() as u64);
                prop_assert_eq!(s.first_id, model.keys().next().copied().unwrap_or(StreamId::MIN));
                for (_, node) in s.nodes() {
                    prop_assert!(lp::validate(node).is_some());
                }
            }
            let fwd = all(&s, false);
            let want: Vec<_> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
            prop_assert_eq!(&fwd, &want);
        }
    }
}
