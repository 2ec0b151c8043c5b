//! The list value: a deque of byte-packed nodes, like Redis's quicklist of
//! listpacks. Each node is one buffer of entries encoded as
//! `[LEB128 len][bytes][len again, LEB128 reversed]`, so it can be walked from
//! either end, and its live bytes start at an offset: popping the front moves
//! the offset instead of shifting the buffer, and pushing the front writes
//! into headroom before it. Push and pop at both ends are O(1) amortized.
//!
//! Encodings (OBJECT ENCODING, Redis 7.2 names):
//! - `listpack`: one node of at most [`LIST_NODE_MAX_BYTES`] bytes, held
//!   inline (no deque).
//! - `quicklist`: a `VecDeque` of nodes. A node is closed once it would pass
//!   8 KiB (`list-max-listpack-size -2`); an element bigger than that gets a
//!   node of its own. A quicklist turns back into a listpack when it is down
//!   to one node of at most 4 KiB, the hysteresis Redis uses.
//!
//! Cost per element: payload + 2 bytes for payloads under 128 bytes (+4 up to
//! 16 KiB), the same as a Redis listpack string entry; Redis stores integers
//! more tightly (1-9 bytes + 1). Growing end nodes keep up to 1/4 slack at
//! the back and 1/4 headroom at the front; closed nodes are trimmed exactly.
//! Per node: 32 bytes in the deque, per list: 32 bytes inline + a 40-byte
//! box for a quicklist.
//!
//! Index lookups (LINDEX, LSET, LRANGE's start) walk node counts from the
//! nearer end and then entries within one node: O(n / ~680 + 680) for 10-byte
//! elements, like Redis's.

use std::collections::VecDeque;

use crate::listpack::{read_varint, varint_len, write_varint};
use crate::malloc_size as heap_size;

/// A node is closed when adding an entry would take it past this many bytes
/// (Redis's `list-max-listpack-size -2`: 8 KiB listpacks).
pub const LIST_NODE_MAX_BYTES: usize = 8192;

/// A list value; see the module docs for its layout.
#[derive(Clone, Default)]
pub struct List {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Pack(Node),
    Quick(Box<Quick>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Pack(Node::default())
    }
}

#[derive(Default)]
struct Quick {
    nodes: VecDeque<Node>,
    len: usize,
    /// Heap bytes of all nodes, kept current so that memory accounting after
    /// a push or pop is O(1): the end operations adjust it by the touched
    /// node's change, the O(n) operations recount it.
    heap: usize,
}

/// Cloning recounts: a cloned node's buffer has a different capacity.
impl Clone for Quick {
    fn clone(&self) -> Self {
        Quick::new(self.nodes.clone(), self.len)
    }
}

impl Quick {
    fn new(nodes: VecDeque<Node>, len: usize) -> Quick {
        let mut q = Quick {
            nodes,
            len,
            heap: 0,
        };
        q.recount();
        q
    }

    fn recount(&mut self) {
        self.heap = self.nodes.iter().map(Node::heap_bytes).sum();
    }
}

/// A byte-packed run of entries; the live bytes are `buf[start..]`.
#[derive(Clone, Default)]
struct Node {
    buf: Vec<u8>,
    start: u32,
    count: u32,
}

const _: () = assert!(std::mem::size_of::<Node>() == 32);
const _: () = assert!(std::mem::size_of::<List>() == 32);
/// Values move between shards and into snapshots.
const _: () = {
    const fn clone_send<T: Clone + Send + Sync>() {}
    clone_send::<List>()
};

/// Which side of the pivot LINSERT puts the new element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    Before,
    After,
}

/// Bytes one entry of `len` payload bytes takes in a node.
#[inline]
fn entry_size(len: usize) -> usize {
    2 * varint_len(len) + len
}

/// Appends one encoded entry to `out`.
#[inline]
fn encode_entry(out: &mut Vec<u8>, v: &[u8]) {
    let mut tmp = [0u8; 10];
    let n = write_varint(&mut tmp, v.len());
    out.extend_from_slice(&tmp[..n]);
    out.extend_from_slice(v);
    out.extend(tmp[..n].iter().rev());
}

/// Writes one encoded entry at the start of `out` (exactly `entry_size`).
#[inline]
fn write_entry(out: &mut [u8], v: &[u8]) {
    let n = write_varint(out, v.len());
    out[n..n + v.len()].copy_from_slice(v);
    let tail = &mut out[n + v.len()..n + v.len() + n];
    let mut tmp = [0u8; 10];
    write_varint(&mut tmp, v.len());
    for (d, s) in tail.iter_mut().zip(tmp[..n].iter().rev()) {
        *d = *s;
    }
}

impl Node {
    fn single(v: &[u8]) -> Node {
        let mut buf = Vec::with_capacity(entry_size(v.len()));
        encode_entry(&mut buf, v);
        Node {
            buf,
            start: 0,
            count: 1,
        }
    }

    #[inline]
    fn bytes(&self) -> usize {
        self.buf.len() - self.start as usize
    }

    #[inline]
    fn first_off(&self) -> usize {
        self.start as usize
    }

    #[inline]
    fn end_off(&self) -> usize {
        self.buf.len()
    }

    /// The entry starting at `off`: (payload start, payload end, next entry).
    #[inline]
    fn next_entry(&self, off: usize) -> (usize, usize, usize) {
        let (len, n) = read_varint(&self.buf[off..]);
        let s = off + n;
        (s, s + len, s + len + n)
    }

    /// The entry ending at `end`: (payload start, payload end, entry start).
    #[inline]
    fn prev_entry(&self, end: usize) -> (usize, usize, usize) {
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = end;
        loop {
            i -= 1;
            let b = self.buf[i];
            len |= ((b & 0x7f) as usize) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let n = end - i;
        let s = i - len;
        (s, i, s - n)
    }

    #[inline]
    fn payload(&self, s: usize, e: usize) -> &[u8] {
        &self.buf[s..e]
    }

    fn push_back(&mut self, v: &[u8]) {
        let need = entry_size(v.len());
        if self.buf.capacity() - self.buf.len() < need {
            // Grow by a quarter: bounded slack, amortized O(1) appends.
            self.buf.reserve_exact(need + self.buf.len() / 4);
        }
        encode_entry(&mut self.buf, v);
        self.count += 1;
    }

    fn push_front(&mut self, v: &[u8]) {
        let need = entry_size(v.len());
        let mut start = self.start as usize;
        if start < need {
            // Re-lay the node with a quarter of its size as headroom.
            let head = need + self.bytes() / 4;
            let mut buf = Vec::with_capacity(head + self.bytes());
            buf.resize(head, 0);
            buf.extend_from_slice(&self.buf[start..]);
            self.buf = buf;
            start = head;
        }
        start -= need;
        write_entry(&mut self.buf[start..start + need], v);
        self.start = start as u32;
        self.count += 1;
    }

    fn pop_front_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let (s, e, next) = self.next_entry(self.first_off());
        let r = f(&self.buf[s..e]);
        self.start = next as u32;
        self.count -= 1;
        self.after_pop();
        r
    }

    fn pop_back_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let (s, e, begin) = self.prev_entry(self.end_off());
        let r = f(&self.buf[s..e]);
        self.buf.truncate(begin);
        self.count -= 1;
        self.after_pop();
        r
    }

    /// Gives memory back once dead bytes outweigh live ones.
    fn after_pop(&mut self) {
        if self.count == 0 {
            *self = Node::default();
            return;
        }
        let live = self.bytes();
        let dead = self.start as usize + (self.buf.capacity() - self.buf.len());
        if dead > 64 && dead > live {
            self.relayout(live / 4, live / 4);
        }
    }

    /// Rebuilds the buffer with exactly `head` bytes of headroom and `tail`
    /// bytes of spare capacity.
    fn relayout(&mut self, head: usize, tail: usize) {
        let live = self.bytes();
        let mut buf = Vec::with_capacity(head + live + tail);
        buf.resize(head, 0);
        buf.extend_from_slice(&self.buf[self.start as usize..]);
        self.buf = buf;
        self.start = head as u32;
    }

    /// Drops headroom and spare capacity: the node will not grow at its ends.
    fn seal(&mut self) {
        if self.start != 0 || self.buf.capacity() != self.buf.len() {
            self.relayout(0, 0);
        }
    }

    /// Replaces the `removed` entries in bytes `from..to` by `items`.
    fn splice(&mut self, from: usize, to: usize, removed: usize, items: &[&[u8]]) {
        let mut enc = Vec::with_capacity(items.iter().map(|v| entry_size(v.len())).sum());
        for v in items {
            encode_entry(&mut enc, v);
        }
        self.buf.splice(from..to, enc);
        self.count = self.count + items.len() as u32 - removed as u32;
    }

    /// Byte offset of the entry with local index `idx` (< count), walking
    /// from the nearer end.
    fn offset_of(&self, idx: usize) -> usize {
        let count = self.count as usize;
        debug_assert!(idx < count);
        if idx <= count / 2 {
            let mut off = self.first_off();
            for _ in 0..idx {
                off = self.next_entry(off).2;
            }
            off
        } else {
            let mut end = self.end_off();
            for _ in 0..count - idx {
                end = self.prev_entry(end).2;
            }
            end
        }
    }

    /// Splits off the entries past the byte midpoint into a new node; both
    /// halves are sealed. Needs `count >= 2`.
    fn split(&mut self) -> Node {
        debug_assert!(self.count >= 2);
        let half = self.first_off() + self.bytes() / 2;
        let mut off = self.first_off();
        let mut k = 0u32;
        // Keep at least one entry on each side.
        loop {
            let next = self.next_entry(off).2;
            off = next;
            k += 1;
            if off >= half || k + 1 == self.count {
                break;
            }
        }
        let right = Node {
            buf: self.buf[off..].to_vec(),
            start: 0,
            count: self.count - k,
        };
        self.buf.truncate(off);
        self.count = k;
        self.seal();
        right
    }

    /// Appends all of `other`'s entries.
    fn append(&mut self, other: &Node) {
        self.buf
            .extend_from_slice(&other.buf[other.start as usize..]);
        self.count += other.count;
    }

    /// Removes the first `n` (< count) entries.
    fn drop_front(&mut self, n: usize) {
        let mut off = self.first_off();
        for _ in 0..n {
            off = self.next_entry(off).2;
        }
        self.start = off as u32;
        self.count -= n as u32;
        self.after_pop();
    }

    /// Removes the last `n` (< count) entries.
    fn drop_back(&mut self, n: usize) {
        let mut end = self.end_off();
        for _ in 0..n {
            end = self.prev_entry(end).2;
        }
        self.buf.truncate(end);
        self.count -= n as u32;
        self.after_pop();
    }

    /// Rebuilds the node without the entries whose start offsets are in
    /// `drop` (sorted).
    fn remove_entries(&mut self, drop: &[usize]) {
        let mut buf = Vec::with_capacity(self.bytes());
        let mut from = self.first_off();
        for &off in drop {
            buf.extend_from_slice(&self.buf[from..off]);
            from = self.next_entry(off).2;
        }
        buf.extend_from_slice(&self.buf[from..]);
        buf.shrink_to_fit();
        self.buf = buf;
        self.start = 0;
        self.count -= drop.len() as u32;
    }

    fn heap_bytes(&self) -> usize {
        heap_size(self.buf.capacity())
    }
}

/// Normalizes a Redis (start, stop) index pair against `len` the way LRANGE
/// and LTRIM do; `None` when the range is empty.
pub fn normalize_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len_i = len as i64;
    let mut start = if start < 0 {
        start.saturating_add(len_i)
    } else {
        start
    };
    let mut stop = if stop < 0 {
        stop.saturating_add(len_i)
    } else {
        stop
    };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len_i {
        return None;
    }
    if stop >= len_i {
        stop = len_i - 1;
    }
    Some((start as usize, stop as usize))
}

/// Which end of a list an operation works on.
#[derive(Clone, Copy)]
enum Side {
    Front,
    Back,
}

impl Side {
    #[inline]
    fn push_into(self, n: &mut Node, v: &[u8]) {
        match self {
            Side::Front => n.push_front(v),
            Side::Back => n.push_back(v),
        }
    }

    #[inline]
    fn pop_from<R>(self, n: &mut Node, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Side::Front => n.pop_front_with(f),
            Side::Back => n.pop_back_with(f),
        }
    }

    #[inline]
    fn end_node(self, nodes: &mut VecDeque<Node>) -> Option<&mut Node> {
        match self {
            Side::Front => nodes.front_mut(),
            Side::Back => nodes.back_mut(),
        }
    }

    #[inline]
    fn push_node(self, nodes: &mut VecDeque<Node>, n: Node) {
        match self {
            Side::Front => nodes.push_front(n),
            Side::Back => nodes.push_back(n),
        }
    }

    #[inline]
    fn drop_node(self, nodes: &mut VecDeque<Node>) {
        match self {
            Side::Front => drop(nodes.pop_front()),
            Side::Back => drop(nodes.pop_back()),
        }
    }
}

impl List {
    /// An empty list (a `listpack` that allocates nothing yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements (LLEN).
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(n) => n.count as usize,
            Repr::Quick(q) => q.len,
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING: "listpack" or "quicklist".
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Quick(_) => "quicklist",
        }
    }

    /// Estimated bytes this value holds, inline part included.
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.repr {
                Repr::Pack(n) => n.heap_bytes(),
                Repr::Quick(q) => {
                    debug_assert_eq!(q.heap, q.nodes.iter().map(Node::heap_bytes).sum::<usize>());
                    heap_size(std::mem::size_of::<Quick>())
                        + heap_size(q.nodes.capacity() * std::mem::size_of::<Node>())
                        + q.heap
                }
            }
    }

    #[inline]
    fn node_count(&self) -> usize {
        match &self.repr {
            Repr::Pack(_) => 1,
            Repr::Quick(q) => q.nodes.len(),
        }
    }

    #[inline]
    fn node(&self, i: usize) -> &Node {
        match &self.repr {
            Repr::Pack(n) => n,
            Repr::Quick(q) => &q.nodes[i],
        }
    }

    #[inline]
    fn node_mut(&mut self, i: usize) -> &mut Node {
        match &mut self.repr {
            Repr::Pack(n) => n,
            Repr::Quick(q) => &mut q.nodes[i],
        }
    }

    /// Adds `n` to the element count kept for a quicklist.
    #[inline]
    fn add_len(&mut self, n: isize) {
        if let Repr::Quick(q) = &mut self.repr {
            q.len = q.len.wrapping_add_signed(n);
        }
    }

    /// LPUSH of one element.
    pub fn push_front(&mut self, v: &[u8]) {
        self.push(Side::Front, v);
    }

    /// See `List::set_nodes`; recounts the node heap afterwards (an
    /// O(n) operation anyway).
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let r = self.set_nodes(index, v);
        self.recount_heap();
        r
    }

    /// See `List::insert_nodes`; recounts the node heap afterwards (an
    /// O(n) operation anyway).
    pub fn insert(&mut self, place: Where, pivot: &[u8], v: &[u8]) -> Option<usize> {
        let r = self.insert_nodes(place, pivot, v);
        self.recount_heap();
        r
    }

    /// See `List::remove_nodes`; recounts the node heap afterwards (an
    /// O(n) operation anyway).
    pub fn remove(&mut self, count: i64, v: &[u8]) -> usize {
        let r = self.remove_nodes(count, v);
        self.recount_heap();
        r
    }

    /// See `List::trim_nodes`; recounts the node heap afterwards (an
    /// O(n) operation anyway).
    pub fn trim(&mut self, start: i64, stop: i64) {
        self.trim_nodes(start, stop);
        self.recount_heap();
    }

    fn recount_heap(&mut self) {
        if let Repr::Quick(q) = &mut self.repr {
            q.recount();
        }
    }

    /// RPUSH of one element.
    pub fn push_back(&mut self, v: &[u8]) {
        self.push(Side::Back, v);
    }

    /// Pushes at one end: into the end node while it has room, else into a
    /// new node (a listpack that outgrows one node becomes a quicklist).
    #[inline]
    fn push(&mut self, side: Side, v: &[u8]) {
        let need = entry_size(v.len());
        match &mut self.repr {
            Repr::Pack(n) => {
                if n.bytes() + need <= LIST_NODE_MAX_BYTES {
                    side.push_into(n, v);
                } else {
                    let mut old = std::mem::take(n);
                    let mut nodes = VecDeque::with_capacity(4);
                    if old.count > 0 {
                        old.seal();
                        nodes.push_back(old);
                    }
                    side.push_node(&mut nodes, Node::single(v));
                    let len = nodes.iter().map(|n| n.count as usize).sum();
                    self.repr = Repr::Quick(Box::new(Quick::new(nodes, len)));
                }
            }
            Repr::Quick(q) => {
                let end = side.end_node(&mut q.nodes).expect("quicklist has a node");
                let before = end.heap_bytes();
                if end.bytes() + need <= LIST_NODE_MAX_BYTES {
                    side.push_into(end, v);
                    q.heap = q.heap - before + end.heap_bytes();
                } else {
                    end.seal();
                    q.heap = q.heap - before + end.heap_bytes();
                    let node = Node::single(v);
                    q.heap += node.heap_bytes();
                    side.push_node(&mut q.nodes, node);
                }
                q.len += 1;
            }
        }
    }

    /// LPOP of one element, handing its bytes to `f` without copying them.
    pub fn pop_front_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.pop_with(Side::Front, f)
    }

    /// RPOP of one element, handing its bytes to `f` without copying them.
    pub fn pop_back_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.pop_with(Side::Back, f)
    }

    /// Pops at one end; an emptied end node is dropped.
    #[inline]
    fn pop_with<R>(&mut self, side: Side, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match &mut self.repr {
            Repr::Pack(n) => (n.count > 0).then(|| side.pop_from(n, f)),
            Repr::Quick(q) => {
                let end = side.end_node(&mut q.nodes)?;
                let before = end.heap_bytes();
                let r = side.pop_from(end, f);
                q.heap = q.heap - before + end.heap_bytes();
                if end.count == 0 {
                    q.heap -= end.heap_bytes();
                    side.drop_node(&mut q.nodes);
                }
                q.len -= 1;
                self.maybe_to_pack();
                Some(r)
            }
        }
    }

    /// LPOP: the first element.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        self.pop_front_with(<[u8]>::to_vec)
    }

    /// RPOP: the last element.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        self.pop_back_with(<[u8]>::to_vec)
    }

    /// LPOP with a count: up to `count` elements from the head, in order.
    pub fn pop_front_n(&mut self, count: usize) -> Vec<Vec<u8>> {
        let n = count.min(self.len());
        (0..n).filter_map(|_| self.pop_front()).collect()
    }

    /// RPOP with a count: up to `count` elements from the tail, tail first.
    pub fn pop_back_n(&mut self, count: usize) -> Vec<Vec<u8>> {
        let n = count.min(self.len());
        (0..n).filter_map(|_| self.pop_back()).collect()
    }

    /// After a shrinking operation: a quicklist that is down to one node of
    /// at most half the node size becomes a listpack again (Redis's
    /// hysteresis), and an empty quicklist becomes an empty listpack.
    fn maybe_to_pack(&mut self) {
        if let Repr::Quick(q) = &mut self.repr {
            let to_pack = match q.nodes.len() {
                0 => true,
                1 => q.nodes[0].bytes() <= LIST_NODE_MAX_BYTES / 2,
                _ => false,
            };
            if to_pack {
                let node = q.nodes.pop_front().unwrap_or_default();
                self.repr = Repr::Pack(node);
            }
        }
    }

    /// (node index, entry offset) of element `idx` (< len), walking node
    /// counts from the nearer end.
    fn locate(&self, idx: usize) -> (usize, usize) {
        let len = self.len();
        debug_assert!(idx < len);
        let nodes = self.node_count();
        if idx < len / 2 {
            let mut i = 0;
            let mut rem = idx;
            while rem >= self.node(i).count as usize {
                rem -= self.node(i).count as usize;
                i += 1;
            }
            (i, self.node(i).offset_of(rem))
        } else {
            let mut i = nodes - 1;
            let mut rem = len - 1 - idx;
            while rem >= self.node(i).count as usize {
                rem -= self.node(i).count as usize;
                i -= 1;
            }
            let n = self.node(i);
            (i, n.offset_of(n.count as usize - 1 - rem))
        }
    }

    /// Normalizes a possibly negative Redis index.
    fn index(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 {
            index.checked_add(len)?
        } else {
            index
        };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// LINDEX: the element at `index` (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        let i = self.index(index)?;
        let (ni, off) = self.locate(i);
        let n = self.node(ni);
        let (s, e, _) = n.next_entry(off);
        Some(n.payload(s, e))
    }

    /// LSET: replaces the element at `index`; false when out of range.
    fn set_nodes(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = self.index(index) else {
            return false;
        };
        let (ni, off) = self.locate(i);
        let node = self.node_mut(ni);
        let next = node.next_entry(off).2;
        node.splice(off, next, 1, &[v]);
        self.after_grow(ni);
        self.maybe_to_pack();
        true
    }

    /// Forward iterator over all elements.
    pub fn iter(&self) -> Iter<'_> {
        let first = if self.is_empty() {
            0
        } else {
            self.node(0).first_off()
        };
        Iter {
            list: self,
            node: 0,
            off: first,
            remaining: self.len(),
        }
    }

    /// Backward iterator over all elements, tail first.
    pub fn iter_rev(&self) -> IterRev<'_> {
        let last = self.node_count() - 1;
        IterRev {
            list: self,
            node: last,
            end: self.node(last).end_off(),
            remaining: self.len(),
        }
    }

    /// LRANGE: the elements from `start` to `stop` inclusive (Redis index
    /// rules: negative from the tail, clamped, empty when crossed).
    pub fn range(&self, start: i64, stop: i64) -> Iter<'_> {
        match normalize_range(start, stop, self.len()) {
            None => Iter {
                list: self,
                node: 0,
                off: 0,
                remaining: 0,
            },
            Some((s, e)) => {
                let (node, off) = self.locate(s);
                Iter {
                    list: self,
                    node,
                    off,
                    remaining: e - s + 1,
                }
            }
        }
    }

    /// LINSERT: inserts `v` before or after the first element equal to
    /// `pivot`; the new length, or `None` when the pivot is absent.
    fn insert_nodes(&mut self, place: Where, pivot: &[u8], v: &[u8]) -> Option<usize> {
        let (ni, off) = self.find_first(pivot)?;
        let node = self.node_mut(ni);
        let at = match place {
            Where::Before => off,
            Where::After => node.next_entry(off).2,
        };
        node.splice(at, at, 0, &[v]);
        self.add_len(1);
        self.after_grow(ni);
        Some(self.len())
    }

    fn find_first(&self, pivot: &[u8]) -> Option<(usize, usize)> {
        for ni in 0..self.node_count() {
            let n = self.node(ni);
            let mut off = n.first_off();
            while off < n.end_off() {
                let (s, e, next) = n.next_entry(off);
                if n.payload(s, e) == pivot {
                    return Some((ni, off));
                }
                off = next;
            }
        }
        None
    }

    /// A node that grew past the limit is split (a listpack becomes a
    /// quicklist first).
    fn after_grow(&mut self, ni: usize) {
        let n = self.node(ni);
        if n.bytes() <= LIST_NODE_MAX_BYTES {
            return;
        }
        if let Repr::Pack(node) = &mut self.repr {
            let node = std::mem::take(node);
            let len = node.count as usize;
            let mut nodes = VecDeque::with_capacity(4);
            nodes.push_back(node);
            self.repr = Repr::Quick(Box::new(Quick::new(nodes, len)));
        }
        let Repr::Quick(q) = &mut self.repr else {
            unreachable!()
        };
        if q.nodes[ni].count >= 2 {
            let right = q.nodes[ni].split();
            q.nodes.insert(ni + 1, right);
            // Each half may still be too big when one entry dominates.
            self.after_grow(ni + 1);
            self.after_grow(ni);
        }
    }

    /// LREM: removes up to `|count|` elements equal to `v` (from the head
    /// when `count > 0`, from the tail when `< 0`, all when `0`); returns how
    /// many were removed.
    fn remove_nodes(&mut self, count: i64, v: &[u8]) -> usize {
        let mut quota = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let mut removed = 0;
        let nodes = self.node_count();
        let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
            Box::new((0..nodes).rev())
        } else {
            Box::new(0..nodes)
        };
        let mut hits = Vec::new();
        for ni in order {
            if quota == 0 {
                break;
            }
            let n = self.node(ni);
            hits.clear();
            let mut off = n.first_off();
            while off < n.end_off() {
                let (s, e, next) = n.next_entry(off);
                if n.payload(s, e) == v {
                    hits.push(off);
                    if count >= 0 && hits.len() == quota {
                        break;
                    }
                }
                off = next;
            }
            if hits.is_empty() {
                continue;
            }
            if count < 0 && hits.len() > quota {
                hits.drain(..hits.len() - quota);
            }
            quota -= hits.len();
            removed += hits.len();
            self.node_mut(ni).remove_entries(&hits);
        }
        if removed > 0 {
            self.add_len(-(removed as isize));
            self.compact_nodes();
        }
        removed
    }

    /// Drops empty nodes and merges neighbours that fit in one node, then
    /// re-checks the encoding.
    fn compact_nodes(&mut self) {
        if let Repr::Quick(q) = &mut self.repr {
            let mut out: VecDeque<Node> = VecDeque::with_capacity(q.nodes.len());
            for n in q.nodes.drain(..).filter(|n| n.count > 0) {
                match out.back_mut() {
                    Some(last) if last.bytes() + n.bytes() <= LIST_NODE_MAX_BYTES => {
                        last.append(&n)
                    }
                    _ => out.push_back(n),
                }
            }
            out.iter_mut().for_each(Node::seal);
            q.nodes = out;
        }
        self.maybe_to_pack();
    }

    /// LTRIM: keeps only the elements from `start` to `stop` inclusive.
    fn trim_nodes(&mut self, start: i64, stop: i64) {
        let len = self.len();
        let (left, right) = match normalize_range(start, stop, len) {
            None => (len, 0),
            Some((s, e)) => (s, len - e - 1),
        };
        self.drop_front(left);
        self.drop_back(right);
    }

    fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            match &mut self.repr {
                Repr::Pack(node) => {
                    if n >= node.count as usize {
                        *node = Node::default();
                    } else {
                        node.drop_front(n);
                    }
                    return;
                }
                Repr::Quick(q) => {
                    let head = q.nodes.front_mut().expect("quicklist has a node");
                    let c = head.count as usize;
                    if n >= c {
                        q.nodes.pop_front();
                        q.len -= c;
                        n -= c;
                    } else {
                        head.drop_front(n);
                        q.len -= n;
                        n = 0;
                    }
                }
            }
            self.maybe_to_pack();
        }
    }

    fn drop_back(&mut self, mut n: usize) {
        while n > 0 {
            match &mut self.repr {
                Repr::Pack(node) => {
                    if n >= node.count as usize {
                        *node = Node::default();
                    } else {
                        node.drop_back(n);
                    }
                    return;
                }
                Repr::Quick(q) => {
                    let tail = q.nodes.back_mut().expect("quicklist has a node");
                    let c = tail.count as usize;
                    if n >= c {
                        q.nodes.pop_back();
                        q.len -= c;
                        n -= c;
                    } else {
                        tail.drop_back(n);
                        q.len -= n;
                        n = 0;
                    }
                }
            }
            self.maybe_to_pack();
        }
    }

    /// LPOS: indices (from the head) of elements equal to `v`. `rank` (not
    /// 0) skips the first `|rank| - 1` matches, scanning from the tail when
    /// negative; `count` caps the matches returned (0: all); `maxlen` caps
    /// the elements compared (0: all). LPOS without COUNT is `count == 1`.
    pub fn positions(&self, v: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        debug_assert!(rank != 0);
        let skip = rank.unsigned_abs().saturating_sub(1);
        let limit = if maxlen == 0 { usize::MAX } else { maxlen };
        let count = if count == 0 { usize::MAX } else { count };
        let len = self.len();
        let mut out = Vec::new();
        let mut matches = 0u64;
        let mut visit = |i: usize, e: &[u8]| -> bool {
            if e == v {
                matches += 1;
                if matches > skip {
                    out.push(i);
                    return out.len() < count;
                }
            }
            true
        };
        if rank > 0 {
            for (i, e) in self.iter().enumerate().take(limit) {
                if !visit(i, e) {
                    break;
                }
            }
        } else {
            for (i, e) in self.iter_rev().enumerate().take(limit) {
                if !visit(len - 1 - i, e) {
                    break;
                }
            }
        }
        out
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Forward iterator over a list's elements.
pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    off: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let mut n = self.list.node(self.node);
        if self.off >= n.end_off() {
            self.node += 1;
            n = self.list.node(self.node);
            self.off = n.first_off();
        }
        let (s, e, next) = n.next_entry(self.off);
        self.off = next;
        self.remaining -= 1;
        Some(n.payload(s, e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Backward iterator over a list's elements.
pub struct IterRev<'a> {
    list: &'a List,
    node: usize,
    end: usize,
    remaining: usize,
}

impl<'a> Iterator for IterRev<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let mut n = self.list.node(self.node);
        if self.end <= n.first_off() {
            self.node -= 1;
            n = self.list.node(self.node);
            self.end = n.end_off();
        }
        let (s, e, begin) = n.prev_entry(self.end);
        self.end = begin;
        self.remaining -= 1;
        Some(n.payload(s, e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for IterRev<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    /// Checks node invariants: counts add up, no empty node in a quicklist,
    /// each node walks identically forwards and backwards.
    fn check(l: &List) {
        let mut total = 0;
        for i in 0..l.node_count() {
            let n = l.node(i);
            if let Repr::Quick(_) = l.repr {
                assert!(n.count > 0, "empty node in quicklist");
            }
            let mut fwd = Vec::new();
            let mut off = n.first_off();
            while off < n.end_off() {
                let (s, e, next) = n.next_entry(off);
                fwd.push(n.payload(s, e).to_vec());
                off = next;
            }
            assert_eq!(off, n.end_off());
            let mut back = Vec::new();
            let mut end = n.end_off();
            while end > n.first_off() {
                let (s, e, begin) = n.prev_entry(end);
                back.push(n.payload(s, e).to_vec());
                end = begin;
            }
            back.reverse();
            assert_eq!(fwd, back);
            assert_eq!(fwd.len(), n.count as usize);
            total += fwd.len();
        }
        assert_eq!(total, l.len());
        let rev: Vec<Vec<u8>> = l.iter_rev().map(<[u8]>::to_vec).collect();
        let mut fwd = items(l);
        fwd.reverse();
        assert_eq!(rev, fwd);
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = List::new();
        assert_eq!(l.pop_front(), None);
        assert_eq!(l.pop_back(), None);
        l.push_back(b"b");
        l.push_front(b"a");
        l.push_back(b"c");
        assert_eq!(items(&l), vec![b("a"), b("b"), b("c")]);
        assert_eq!(l.encoding_name(), "listpack");
        assert_eq!(l.pop_front(), Some(b("a")));
        assert_eq!(l.pop_back(), Some(b("c")));
        assert_eq!(l.pop_back(), Some(b("b")));
        assert!(l.is_empty());
        check(&l);
    }

    #[test]
    fn converts_to_quicklist_past_8k_and_back_at_4k() {
        let mut l = List::new();
        let v = [b'x'; 100]; // 102 bytes per entry
        for _ in 0..80 {
            l.push_back(&v);
        }
        assert_eq!(l.encoding_name(), "listpack"); // 8160 bytes
        l.push_back(&v);
        assert_eq!(l.encoding_name(), "quicklist");
        check(&l);
        for _ in 0..41 {
            l.pop_back();
        }
        // 40 entries = 4080 bytes, one node: back to listpack.
        assert_eq!(l.len(), 40);
        assert_eq!(l.encoding_name(), "listpack");
        check(&l);
    }

    #[test]
    fn big_element_gets_its_own_node() {
        let mut l = List::new();
        l.push_back(b"a");
        l.push_back(&vec![b'z'; 20_000]);
        l.push_back(b"c");
        assert_eq!(l.encoding_name(), "quicklist");
        assert_eq!(l.get(1).map(<[u8]>::len), Some(20_000));
        assert_eq!(l.get(2), Some(&b"c"[..]));
        assert_eq!(l.get(-3), Some(&b"a"[..]));
        check(&l);
    }

    #[test]
    fn lrange_index_rules() {
        let mut l = List::new();
        for i in 0..10 {
            l.push_back(i.to_string().as_bytes());
        }
        let r = |s, e| {
            l.range(s, e)
                .map(|x| String::from_utf8(x.to_vec()).unwrap())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(r(0, -1), "0,1,2,3,4,5,6,7,8,9");
        assert_eq!(r(-3, -1), "7,8,9");
        assert_eq!(r(-100, 2), "0,1,2");
        assert_eq!(r(5, 100), "5,6,7,8,9");
        assert_eq!(r(5, 4), "");
        assert_eq!(r(10, 20), "");
        assert_eq!(r(i64::MIN, i64::MAX), "0,1,2,3,4,5,6,7,8,9");
    }

    #[test]
    fn lset_linsert_lrem_ltrim_lpos() {
        let mut l = List::new();
        for s in ["a", "b", "c", "b", "a", "b"] {
            l.push_back(s.as_bytes());
        }
        assert!(l.set(-1, b"B"));
        assert!(!l.set(6, b"x"));
        assert!(!l.set(-7, b"x"));
        assert_eq!(l.insert(Where::Before, b"c", b"x"), Some(7));
        assert_eq!(l.insert(Where::After, b"c", b"y"), Some(8));
        assert_eq!(l.insert(Where::After, b"nope", b"y"), None);
        assert_eq!(items(&l), ["a", "b", "x", "c", "y", "b", "a", "B"].map(b));
        assert_eq!(l.positions(b"b", 1, 0, 0), vec![1, 5]);
        assert_eq!(l.positions(b"b", -1, 0, 0), vec![5, 1]);
        assert_eq!(l.positions(b"b", 2, 1, 0), vec![5]);
        assert_eq!(l.positions(b"b", 1, 0, 3), vec![1]);
        assert_eq!(l.positions(b"a", -1, 1, 0), vec![6]);
        assert_eq!(l.remove(-1, b"b"), 1);
        assert_eq!(items(&l), ["a", "b", "x", "c", "y", "a", "B"].map(b));
        assert_eq!(l.remove(0, b"a"), 2);
        l.trim(1, -2);
        assert_eq!(items(&l), ["x", "c", "y"].map(b));
        l.trim(5, 10);
        assert!(l.is_empty());
        check(&l);
    }

    #[test]
    fn lset_growing_a_node_splits_it() {
        let mut l = List::new();
        for _ in 0..50 {
            l.push_back(&[b'q'; 100]);
        }
        assert_eq!(l.encoding_name(), "listpack");
        assert!(l.set(25, &[b'w'; 5000]));
        assert_eq!(l.encoding_name(), "quicklist");
        assert_eq!(l.get(25).map(<[u8]>::len), Some(5000));
        for i in 0..l.node_count() {
            assert!(l.node(i).bytes() <= LIST_NODE_MAX_BYTES || l.node(i).count == 1);
        }
        check(&l);
    }

    #[test]
    fn mem_usage_is_close_to_payload_for_big_lists() {
        let mut l = List::new();
        for i in 0..100_000u32 {
            l.push_back(format!("{i:010}").as_bytes());
        }
        let per = l.mem_usage() as f64 / 100_000.0;
        // 12 bytes of entry per 10-byte element plus node overhead.
        assert!(per < 13.5, "{per}");
    }

    #[derive(Debug, Clone)]
    enum Op {
        PushFront(Vec<u8>),
        PushBack(Vec<u8>),
        PopFront,
        PopBack,
        Set(i64, Vec<u8>),
        Insert(bool, Vec<u8>, Vec<u8>),
        Remove(i64, Vec<u8>),
        Trim(i64, i64),
        Index(i64),
        Range(i64, i64),
        Pos(Vec<u8>, i64, usize, usize),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::sample::select(vec![b("a"), b("b"), b("c"), b("dd")]),
            2 => prop::collection::vec(any::<u8>(), 0..300),
            1 => (1usize..12_000).prop_map(|n| vec![b'L'; n]),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let idx = -40i64..40;
        prop_oneof![
            8 => value().prop_map(Op::PushFront),
            8 => value().prop_map(Op::PushBack),
            3 => Just(Op::PopFront),
            3 => Just(Op::PopBack),
            2 => (idx.clone(), value()).prop_map(|(i, v)| Op::Set(i, v)),
            2 => (any::<bool>(), value(), value()).prop_map(|(a, p, v)| Op::Insert(a, p, v)),
            2 => (-3i64..3, value()).prop_map(|(c, v)| Op::Remove(c, v)),
            1 => (idx.clone(), idx.clone()).prop_map(|(s, e)| Op::Trim(s, e)),
            2 => idx.clone().prop_map(Op::Index),
            2 => (idx.clone(), idx.clone()).prop_map(|(s, e)| Op::Range(s, e)),
            2 => (value(), prop_oneof![-3i64..0, 1i64..4], 0usize..3, 0usize..20).prop_map(|(v, r, c, m)| Op::Pos(v, r, c, m)),
        ]
    }

    fn model_index(m: &VecDeque<Vec<u8>>, i: i64) -> Option<usize> {
        let len = m.len() as i64;
        let i = if i < 0 { i + len } else { i };
        (0..len).contains(&i).then_some(i as usize)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn list_matches_vecdeque_model(ops in prop::collection::vec(op(), 1..250)) {
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::PushFront(v) => { l.push_front(&v); m.push_front(v); }
                    Op::PushBack(v) => { l.push_back(&v); m.push_back(v); }
                    Op::PopFront => prop_assert_eq!(l.pop_front(), m.pop_front()),
                    Op::PopBack => prop_assert_eq!(l.pop_back(), m.pop_back()),
                    Op::Set(i, v) => {
                        let mi = model_index(&m, i);
                        prop_assert_eq!(l.set(i, &v), mi.is_some());
                        if let Some(mi) = mi { m[mi] = v; }
                    }
                    Op::Insert(after, p, v) => {
                        let pos = m.iter().position(|e| *e == p);
                        let got = l.insert(if after { Where::After } else { Where::Before }, &p, &v);
                        match pos {
                            None => prop_assert_eq!(got, None),
                            Some(i) => {
                                m.insert(if after { i + 1 } else { i }, v);
                                prop_assert_eq!(got, Some(m.len()));
                            }
                        }
                    }
                    Op::Remove(c, v) => {
                        let mut idxs: Vec<usize> = m.iter().enumerate().filter(|(_, e)| **e == v).map(|(i, _)| i).collect();
                        if c < 0 { idxs.reverse(); }
                        if c != 0 { idxs.truncate(c.unsigned_abs() as usize); }
                        idxs.sort_unstable();
                        for &i in idxs.iter().rev() { m.remove(i); }
                        prop_assert_eq!(l.remove(c, &v), idxs.len());
                    }
                    Op::Trim(s, e) => {
                        match normalize_range(s, e, m.len()) {
                            None => m.clear(),
                            Some((s, e)) => { m.truncate(e + 1); m.drain(..s); }
                        }
                        l.trim(s, e);
                    }
                    Op::Index(i) => {
                        let want = model_index(&m, i).map(|i| m[i].as_slice());
                        prop_assert_eq!(l.get(i), want);
                    }
                    Op::Range(s, e) => {
                        let want: Vec<&[u8]> = match normalize_range(s, e, m.len()) {
                            None => vec![],
                            Some((s, e)) => m.range(s..=e).map(Vec::as_slice).collect(),
                        };
                        let got: Vec<&[u8]> = l.range(s, e).collect();
                        prop_assert_eq!(got, want);
                    }
                    Op::Pos(v, rank, count, maxlen) => {
                        let limit = if maxlen == 0 { m.len() } else { maxlen.min(m.len()) };
                        let order: Vec<usize> = if rank > 0 { (0..limit).collect() } else { (m.len() - limit..m.len()).rev().collect() };
                        let mut want: Vec<usize> = order.into_iter().filter(|&i| m[i] == v).skip(rank.unsigned_abs() as usize - 1).collect();
                        if count > 0 { want.truncate(count); }
                        prop_assert_eq!(l.positions(&v, rank, count, maxlen), want);
                    }
                }
                prop_assert_eq!(l.len(), m.len());
                check(&l);
                // Encoding follows the node-size rule.
                if l.encoding_name() == "listpack" {
                    prop_assert!(l.node(0).bytes() <= LIST_NODE_MAX_BYTES);
                }
            }
            let all: Vec<Vec<u8>> = items(&l);
            prop_assert_eq!(all, m.into_iter().collect::<Vec<_>>());
        }
    }

    /// A clone (the copy a cross-shard command works on) keeps its memory
    /// accounting exact even though cloned buffers change capacity.
    #[test]
    fn clone_of_a_quicklist_accounts_memory_exactly() {
        let mut l = List::new();
        for i in 0..2000 {
            l.push_back(format!("{i:0100}").as_bytes());
        }
        let _ = l.pop_front();
        let mut c = l.clone();
        let before = c.mem_usage();
        c.push_front(b"x");
        let _ = c.pop_back();
        let _ = c.pop_front();
        assert!(c.mem_usage() <= before + 64);
        assert_eq!(c.len(), 1998);
    }
}
