//! The index structures of a big sorted set (`skiplist` encoding): members
//! and scores live in an arena of `u32` ids, found by member through an
//! `IdTable` and kept in (score, member) order by an `OsTree`.
//!
//! `IdTable` is an open-addressing table of ids (linear probing,
//! backward-shift deletion, no tombstones), so every id sits between its
//! home slot `hash & mask` and the first empty slot after it. That invariant
//! lets ZSCAN walk *home buckets* with Redis's reverse-binary cursor exactly
//! as over a chained table: an element present for a whole scan is returned
//! at least once, across any number of grows and shrinks in between. A slot
//! is 8 bytes (id + 32 bits of hash, so probes rarely touch the arena), at a
//! load between 3/8 and 3/4: 11-21 bytes per member.
//!
//! `OsTree` is an order-statistic B+tree (a B+tree whose inner nodes also
//! count the items below each child, so rank and select are O(log n)) in
//! the spirit of Bayer & McCreight's B-trees with Knuth's subtree counts.
//! Nodes live in two arenas and link by `u32`; leaves hold up to 64 (score,
//! id) pairs in parallel arrays (12 bytes per item), are chained both ways
//! for range walks, and inner nodes keep each child's exact minimum so a
//! descent compares scores inline and touches a member's bytes only on a
//! score tie. Splits at either end of the order leave the old node full, so
//! members added in score order (timestamps) pack leaves completely; random
//! order fills them to about 70%: 12-21 bytes per member with the arena's
//! growth slack. Redis's skiplist
//! node is 32 bytes + 16 per level (1.33 levels on average), ~56 with
//! jemalloc, and every step of a search is a pointer chase.
//!
//! Not guaranteed: a table grow or shrink rehashes all ids at once (O(n),
//! about 5 ms per million members) rather than incrementally as Redis's
//! dict does. At most `u32::MAX - 1` members.

use std::sync::OnceLock;

use crate::malloc_size as heap_size;

/// One table slot: an arena index and 32 bits of its key's hash.
#[derive(Clone, Copy)]
struct Slot {
    id: u32,
    hash: u32,
}

const EMPTY: u32 = u32::MAX;
const EMPTY_SLOT: Slot = Slot { id: EMPTY, hash: 0 };
const MIN_SLOTS: usize = 8;

const _: () = assert!(std::mem::size_of::<Slot>() == 8);

/// The hash of a member, field or key byte string, seeded once per process
/// so that clients cannot choose colliding keys ahead of time.
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u32 {
    static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
    let h = STATE.get_or_init(ahash::RandomState::new).hash_one(b);
    (h ^ (h >> 32)) as u32
}

/// An open-addressing index from hashes to `u32` ids; equality is decided by
/// the caller, who owns the entries the ids name.
#[derive(Clone, Default)]
pub(crate) struct IdTable {
    slots: Box<[Slot]>,
    len: usize,
}

impl IdTable {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut t = Self::default();
        if n > 0 {
            t.rehash(slots_for(n));
        }
        t
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Heap bytes of the slot array.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap_size(self.slots.len() * std::mem::size_of::<Slot>())
    }

    /// The slot holding an id whose hash is `hash` and for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u32, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s.id == EMPTY {
                return None;
            }
            if s.hash == hash && eq(s.id) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The id stored in `slot`.
    #[inline]
    pub(crate) fn id_at(&self, slot: usize) -> u32 {
        self.slots[slot].id
    }

    /// Adds `id` under `hash`; the caller has checked the key is absent.
    pub(crate) fn insert(&mut self, hash: u32, id: u32) {
        debug_assert!(id != EMPTY);
        // Grow at a load factor of 3/4: linear probing stays short there.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rehash(slots_for(self.len + 1));
        }
        self.place(hash, id);
        self.len += 1;
    }

    fn place(&mut self, hash: u32, id: u32) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].id != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { id, hash };
    }

    /// Empties `slot`, shifting later members of its probe run back so that
    /// no run has a hole (the invariant SCAN and lookups rely on).
    pub(crate) fn remove_at(&mut self, slot: usize) {
        let mask = self.mask();
        let mut hole = slot;
        let mut j = slot;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.id == EMPTY {
                break;
            }
            let home = s.hash as usize & mask;
            // The entry at j may move back to the hole only if its home is
            // not cyclically inside (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY_SLOT;
        self.len -= 1;
        // Shrink below 1/8 full, as Redis's dict does below 1/10.
        if self.slots.len() > MIN_SLOTS && self.len * 8 < self.slots.len() {
            self.rehash(slots_for(self.len));
        }
    }

    fn rehash(&mut self, n_slots: usize) {
        let old = std::mem::replace(
            &mut self.slots,
            vec![EMPTY_SLOT; n_slots].into_boxed_slice(),
        );
        for s in old.iter().filter(|s| s.id != EMPTY) {
            self.place(s.hash, s.id);
        }
    }

    /// Calls `f` with every id whose home bucket is `cursor & mask`, and
    /// returns the next cursor in reverse-binary order (0 when done). This is
    /// Redis's `dictScan` over a single table.
    pub(crate) fn scan_bucket(&self, cursor: u64, mut f: impl FnMut(u32)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mask = self.mask();
        let b = cursor as usize & mask;
        let mut i = b;
        loop {
            let s = self.slots[i];
            if s.id == EMPTY {
                break;
            }
            if s.hash as usize & mask == b {
                f(s.id);
            }
            i = (i + 1) & mask;
        }
        // Set the bits above the mask so that incrementing the reversed
        // cursor carries through the masked bits only.
        let mut v = cursor | !(mask as u64);
        v = v.reverse_bits().wrapping_add(1).reverse_bits();
        v
    }
}

/// Table size for `n` entries: the smallest power of two at most 3/4 full
/// after growing, i.e. between 3/8 and 3/4 full right after a rehash.
fn slots_for(n: usize) -> usize {
    (n * 4 / 3 + 1).next_power_of_two().max(MIN_SLOTS)
}

/// No node / no id.
pub(crate) const NIL: u32 = u32::MAX;
const LEAF_CAP: usize = 64;
const INNER_CAP: usize = 64;
/// A non-root node with fewer entries than this is merged with or refilled
/// from a sibling.
const LEAF_MIN: usize = LEAF_CAP / 4;
const INNER_MIN: usize = INNER_CAP / 4;
/// Inner levels a path can have. Every non-root node off the two outer
/// spines holds at least 16 entries, so 2^32 items need far fewer.
const MAX_DEPTH: usize = 24;

/// One item of the tree: a score and the arena id of its member.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Item {
    pub score: f64,
    pub id: u32,
}

#[derive(Clone)]
struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    score: [f64; LEAF_CAP],
    id: [u32; LEAF_CAP],
}

#[derive(Clone)]
struct Inner {
    len: u32,
    child: [u32; INNER_CAP],
    /// Items in each child's subtree.
    count: [u32; INNER_CAP],
    /// Each child's smallest item, exact at all times.
    min_score: [f64; INNER_CAP],
    min_id: [u32; INNER_CAP],
}

const _: () = assert!(std::mem::size_of::<Leaf>() == 784);
const _: () = assert!(std::mem::size_of::<Inner>() == 1288);

impl Leaf {
    fn empty() -> Leaf {
        Leaf {
            len: 0,
            prev: NIL,
            next: NIL,
            score: [0.0; LEAF_CAP],
            id: [NIL; LEAF_CAP],
        }
    }

    #[inline]
    fn min(&self) -> (f64, u32) {
        (self.score[0], self.id[0])
    }

    fn insert(&mut self, pos: usize, it: Item) {
        let len = self.len as usize;
        self.score.copy_within(pos..len, pos + 1);
        self.id.copy_within(pos..len, pos + 1);
        self.score[pos] = it.score;
        self.id[pos] = it.id;
        self.len += 1;
    }

    fn remove(&mut self, pos: usize) -> Item {
        let len = self.len as usize;
        let it = Item {
            score: self.score[pos],
            id: self.id[pos],
        };
        self.score.copy_within(pos + 1..len, pos);
        self.id.copy_within(pos + 1..len, pos);
        self.len -= 1;
        it
    }
}

impl Inner {
    fn empty() -> Inner {
        Inner {
            len: 0,
            child: [NIL; INNER_CAP],
            count: [0; INNER_CAP],
            min_score: [0.0; INNER_CAP],
            min_id: [NIL; INNER_CAP],
        }
    }

    fn insert(&mut self, k: usize, child: u32, count: u32, min: (f64, u32)) {
        let len = self.len as usize;
        self.child.copy_within(k..len, k + 1);
        self.count.copy_within(k..len, k + 1);
        self.min_score.copy_within(k..len, k + 1);
        self.min_id.copy_within(k..len, k + 1);
        self.child[k] = child;
        self.count[k] = count;
        self.min_score[k] = min.0;
        self.min_id[k] = min.1;
        self.len += 1;
    }

    fn remove(&mut self, k: usize) {
        let len = self.len as usize;
        self.child.copy_within(k + 1..len, k);
        self.count.copy_within(k + 1..len, k);
        self.min_score.copy_within(k + 1..len, k);
        self.min_id.copy_within(k + 1..len, k);
        self.len -= 1;
    }

    /// Moves entries `from..len` to the end of `dst`.
    fn move_tail_to(&mut self, from: usize, dst: &mut Inner) {
        let len = self.len as usize;
        let d = dst.len as usize;
        let n = len - from;
        dst.child[d..d + n].copy_from_slice(&self.child[from..len]);
        dst.count[d..d + n].copy_from_slice(&self.count[from..len]);
        dst.min_score[d..d + n].copy_from_slice(&self.min_score[from..len]);
        dst.min_id[d..d + n].copy_from_slice(&self.min_id[from..len]);
        dst.len += n as u32;
        self.len = from as u32;
    }

    fn total(&self) -> u32 {
        self.count[..self.len as usize].iter().sum()
    }

    #[inline]
    fn min(&self) -> (f64, u32) {
        (self.min_score[0], self.min_id[0])
    }
}

/// The way from the root to one leaf position, with the rank of that
/// position.
#[derive(Clone)]
pub(crate) struct Path {
    depth: usize,
    node: [u32; MAX_DEPTH],
    slot: [u8; MAX_DEPTH],
    leaf: u32,
    pos: usize,
    /// Items before this position in the whole tree.
    pub rank: usize,
}

impl Path {
    fn new() -> Path {
        Path {
            depth: 0,
            node: [NIL; MAX_DEPTH],
            slot: [0; MAX_DEPTH],
            leaf: NIL,
            pos: 0,
            rank: 0,
        }
    }

    #[inline]
    fn push(&mut self, node: u32, slot: usize) {
        self.node[self.depth] = node;
        self.slot[self.depth] = slot as u8;
        self.depth += 1;
    }
}

/// An order-statistic B+tree of [`Item`]s; see the module docs. The order
/// itself is the caller's: every search takes a predicate `before(score,
/// id)` that is true exactly for the items sorting before the searched
/// position (a prefix of the tree).
#[derive(Clone)]
pub(crate) struct OsTree {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// Inner levels above the leaves; 0 when the root is a leaf.
    height: u32,
    len: usize,
}

impl Default for OsTree {
    fn default() -> Self {
        OsTree {
            leaves: vec![Leaf::empty()],
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: 0,
            height: 0,
            len: 0,
        }
    }
}

/// First index in `lo..hi` for which `before(i)` is false.
#[inline]
fn partition(mut lo: usize, mut hi: usize, mut before: impl FnMut(usize) -> bool) -> usize {
    while lo < hi {
        let mid = (lo + hi) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl OsTree {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes of the node arenas, free nodes included.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap_size(self.leaves.capacity() * std::mem::size_of::<Leaf>())
            + heap_size(self.inners.capacity() * std::mem::size_of::<Inner>())
            + heap_size((self.free_leaves.capacity() + self.free_inners.capacity()) * 4)
    }

    /// Whether most node slots are free (after mass removals), so that a
    /// rebuild would give memory back.
    pub(crate) fn is_sparse(&self) -> bool {
        self.leaves.len() > 8 && self.free_leaves.len() * 2 > self.leaves.len()
    }

    fn alloc_leaf(&mut self) -> u32 {
        match self.free_leaves.pop() {
            Some(i) => {
                self.leaves[i as usize] = Leaf::empty();
                i
            }
            None => {
                push_grow(&mut self.leaves, Leaf::empty());
                (self.leaves.len() - 1) as u32
            }
        }
    }

    fn alloc_inner(&mut self) -> u32 {
        match self.free_inners.pop() {
            Some(i) => {
                self.inners[i as usize] = Inner::empty();
                i
            }
            None => {
                push_grow(&mut self.inners, Inner::empty());
                (self.inners.len() - 1) as u32
            }
        }
    }

    #[inline]
    fn child_min(&self, child_is_leaf: bool, c: u32) -> (f64, u32) {
        if child_is_leaf {
            self.leaves[c as usize].min()
        } else {
            self.inners[c as usize].min()
        }
    }

    #[inline]
    fn child_len(&self, child_is_leaf: bool, c: u32) -> usize {
        if child_is_leaf {
            self.leaves[c as usize].len as usize
        } else {
            self.inners[c as usize].len as usize
        }
    }

    /// The path to the first position whose item is not `before`.
    ///
    /// With a predicate that does not hold for a prefix (a sorted set's
    /// member ranges over different scores) the descent still ends at a
    /// boundary: a position whose item is not `before` (or the end) right
    /// after one whose item is (or the start). Each binary search ends
    /// between an index it found `before` and one it found not, and a
    /// child's first item is the minimum its parent tested.
    pub(crate) fn descend(&self, mut before: impl FnMut(f64, u32) -> bool) -> Path {
        let mut p = Path::new();
        let mut node = self.root;
        for _ in 0..self.height {
            let n = &self.inners[node as usize];
            let k = partition(1, n.len as usize, |i| before(n.min_score[i], n.min_id[i])) - 1;
            p.rank += n.count[..k].iter().map(|&c| c as usize).sum::<usize>();
            p.push(node, k);
            node = n.child[k];
        }
        let l = &self.leaves[node as usize];
        let pos = partition(0, l.len as usize, |i| before(l.score[i], l.id[i]));
        p.leaf = node;
        p.pos = pos;
        p.rank += pos;
        p
    }

    /// The path to the first item that is not `before`, which must exist:
    /// unlike [`descend`](Self::descend), never the end of a leaf.
    pub(crate) fn descend_item(&self, before: impl FnMut(f64, u32) -> bool) -> Path {
        let p = self.descend(before);
        if p.pos < self.leaves[p.leaf as usize].len as usize {
            p
        } else {
            // The item opens the next leaf, whose parent may differ.
            self.descend_rank(p.rank)
        }
    }

    /// Number of items for which `before` holds (they form a prefix).
    #[inline]
    pub(crate) fn count_before(&self, before: impl FnMut(f64, u32) -> bool) -> usize {
        self.descend(before).rank
    }

    /// The path to the item of rank `r` (< len).
    pub(crate) fn descend_rank(&self, mut r: usize) -> Path {
        debug_assert!(r < self.len);
        let mut p = Path::new();
        p.rank = r;
        let mut node = self.root;
        for _ in 0..self.height {
            let n = &self.inners[node as usize];
            let mut k = 0;
            while r >= n.count[k] as usize {
                r -= n.count[k] as usize;
                k += 1;
            }
            p.push(node, k);
            node = n.child[k];
        }
        p.leaf = node;
        p.pos = r;
        p
    }

    /// The item of rank `r` (< len).
    pub(crate) fn get(&self, r: usize) -> Item {
        let p = self.descend_rank(r);
        self.at(p.leaf, p.pos)
    }

    #[inline]
    fn at(&self, leaf: u32, pos: usize) -> Item {
        let l = &self.leaves[leaf as usize];
        Item {
            score: l.score[pos],
            id: l.id[pos],
        }
    }

    /// Inserts `it` at the position `p` leads to (from [`descend`] with the
    /// item's own order, on the unchanged tree).
    pub(crate) fn insert_at(&mut self, p: &Path, it: Item) {
        // (new right sibling, its item count, its min, left part's count)
        let mut carry: Option<(u32, u32, (f64, u32), u32)> = None;
        let mut uneven = false;
        let leaf = p.leaf as usize;
        if (self.leaves[leaf].len as usize) < LEAF_CAP {
            self.leaves[leaf].insert(p.pos, it);
        } else {
            let (prev, next) = (self.leaves[leaf].prev, self.leaves[leaf].next);
            // At an end of the whole order, keep the old leaf full.
            let mid = if p.pos == LEAF_CAP && next == NIL {
                uneven = true;
                LEAF_CAP
            } else if p.pos == 0 && prev == NIL {
                uneven = true;
                0
            } else {
                LEAF_CAP / 2
            };
            let r = self.alloc_leaf();
            let (l, rl) = two_mut(&mut self.leaves, leaf, r as usize);
            let n = LEAF_CAP - mid;
            rl.score[..n].copy_from_slice(&l.score[mid..]);
            rl.id[..n].copy_from_slice(&l.id[mid..]);
            rl.len = n as u32;
            l.len = mid as u32;
            rl.prev = leaf as u32;
            rl.next = next;
            l.next = r;
            if p.pos < mid || (p.pos == mid && mid < LEAF_CAP) {
                l.insert(p.pos, it);
            } else {
                rl.insert(p.pos - mid, it);
            }
            if next != NIL {
                self.leaves[next as usize].prev = r;
            }
            let (l, rl) = (&self.leaves[leaf], &self.leaves[r as usize]);
            carry = Some((r, rl.len, rl.min(), l.len));
        }
        for level in (0..p.depth).rev() {
            let node = p.node[level] as usize;
            let k = p.slot[level] as usize;
            let child_is_leaf = level + 1 == p.depth;
            let child = self.inners[node].child[k];
            let cmin = self.child_min(child_is_leaf, child);
            let n = &mut self.inners[node];
            n.min_score[k] = cmin.0;
            n.min_id[k] = cmin.1;
            let Some((rid, rcount, rmin, lcount)) = carry.take() else {
                n.count[k] += 1;
                continue;
            };
            n.count[k] = lcount;
            let ins = k + 1;
            if (n.len as usize) < INNER_CAP {
                n.insert(ins, rid, rcount, rmin);
                continue;
            }
            let mid = if uneven && ins == INNER_CAP {
                INNER_CAP
            } else if uneven && ins == 1 {
                1
            } else {
                INNER_CAP / 2
            };
            let r = self.alloc_inner();
            let (n, rn) = two_mut(&mut self.inners, node, r as usize);
            n.move_tail_to(mid, rn);
            if ins < mid || (ins == mid && mid < INNER_CAP) {
                n.insert(ins, rid, rcount, rmin);
            } else {
                rn.insert(ins - mid, rid, rcount, rmin);
            }
            carry = Some((r, rn.total(), rn.min(), n.total()));
        }
        if let Some((rid, rcount, rmin, lcount)) = carry {
            let old = self.root;
            let old_min = self.child_min(self.height == 0, old);
            let root = self.alloc_inner();
            let n = &mut self.inners[root as usize];
            n.insert(0, old, lcount, old_min);
            n.insert(1, rid, rcount, rmin);
            self.root = root;
            self.height += 1;
        }
        self.len += 1;
    }

    /// Removes and returns the item at the position `p` leads to.
    pub(crate) fn remove_at(&mut self, p: &Path) -> Item {
        let it = self.leaves[p.leaf as usize].remove(p.pos);
        self.len -= 1;
        for level in (0..p.depth).rev() {
            let node = p.node[level] as usize;
            let k = p.slot[level] as usize;
            let child_is_leaf = level + 1 == p.depth;
            let child = self.inners[node].child[k];
            self.inners[node].count[k] -= 1;
            let clen = self.child_len(child_is_leaf, child);
            if clen > 0 {
                let m = self.child_min(child_is_leaf, child);
                let n = &mut self.inners[node];
                n.min_score[k] = m.0;
                n.min_id[k] = m.1;
            }
            let min = if child_is_leaf { LEAF_MIN } else { INNER_MIN };
            if clen < min {
                self.rebalance(node, k, child_is_leaf);
            }
        }
        while self.height > 0 && self.inners[self.root as usize].len == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].child[0];
            self.free_inners.push(old);
            self.height -= 1;
        }
        it
    }

    /// Refills child `k` of `node` from a neighbour, or merges the two.
    fn rebalance(&mut self, node: usize, k: usize, leaves: bool) {
        let len = self.inners[node].len as usize;
        if len < 2 {
            return;
        }
        let (a, b) = if k + 1 < len { (k, k + 1) } else { (k - 1, k) };
        let ca = self.inners[node].child[a] as usize;
        let cb = self.inners[node].child[b] as usize;
        let (la, lb) = (
            self.child_len(leaves, ca as u32),
            self.child_len(leaves, cb as u32),
        );
        let cap = if leaves { LEAF_CAP } else { INNER_CAP };
        if la + lb <= cap {
            // Merge b into a.
            if leaves {
                let (x, y) = two_mut(&mut self.leaves, ca, cb);
                x.score[la..la + lb].copy_from_slice(&y.score[..lb]);
                x.id[la..la + lb].copy_from_slice(&y.id[..lb]);
                x.len += lb as u32;
                x.next = y.next;
                let next = y.next;
                if next != NIL {
                    self.leaves[next as usize].prev = ca as u32;
                }
                self.free_leaves.push(cb as u32);
            } else {
                let (x, y) = two_mut(&mut self.inners, ca, cb);
                y.move_tail_to(0, x);
                self.free_inners.push(cb as u32);
            }
            let m = self.child_min(leaves, ca as u32);
            let n = &mut self.inners[node];
            n.count[a] += n.count[b];
            n.remove(b);
            n.min_score[a] = m.0;
            n.min_id[a] = m.1;
            return;
        }
        // Redistribute so both hold about half.
        let target = (la + lb) / 2;
        let moved: u32 = if leaves {
            let (x, y) = two_mut(&mut self.leaves, ca, cb);
            if la < target {
                let n = target - la;
                x.score[la..target].copy_from_slice(&y.score[..n]);
                x.id[la..target].copy_from_slice(&y.id[..n]);
                y.score.copy_within(n..lb, 0);
                y.id.copy_within(n..lb, 0);
                x.len = target as u32;
                y.len = (lb - n) as u32;
            } else {
                let n = la - target;
                y.score.copy_within(0..lb, n);
                y.id.copy_within(0..lb, n);
                y.score[..n].copy_from_slice(&x.score[target..la]);
                y.id[..n].copy_from_slice(&x.id[target..la]);
                x.len = target as u32;
                y.len = (lb + n) as u32;
            }
            x.len
        } else {
            let (x, y) = two_mut(&mut self.inners, ca, cb);
            if la < target {
                let n = target - la;
                let mut head = Inner::empty();
                y.move_tail_to(n, &mut head); // head = y[n..]
                y.move_tail_to(0, x); // x += y[..n]
                head.move_tail_to(0, y); // y = old y[n..]
            } else {
                let mut tail = Inner::empty();
                x.move_tail_to(target, &mut tail); // tail = x[target..]
                y.move_tail_to(0, &mut tail); // tail += y
                std::mem::swap(y, &mut tail);
            }
            x.total()
        };
        let (ma, mb) = (
            self.child_min(leaves, ca as u32),
            self.child_min(leaves, cb as u32),
        );
        let n = &mut self.inners[node];
        let total = n.count[a] + n.count[b];
        n.count[a] = moved;
        n.count[b] = total - moved;
        n.min_score[a] = ma.0;
        n.min_id[a] = ma.1;
        n.min_score[b] = mb.0;
        n.min_id[b] = mb.1;
    }

    /// Items from rank `r` on, in order.
    pub(crate) fn iter_from(&self, r: usize) -> Iter<'_> {
        if r >= self.len {
            return Iter {
                tree: self,
                leaf: NIL,
                pos: 0,
                remaining: 0,
            };
        }
        let p = self.descend_rank(r);
        Iter {
            tree: self,
            leaf: p.leaf,
            pos: p.pos,
            remaining: self.len - r,
        }
    }

    /// Items from rank `r` down to rank 0.
    pub(crate) fn iter_rev_from(&self, r: usize) -> IterRev<'_> {
        if r >= self.len {
            return IterRev {
                tree: self,
                leaf: NIL,
                pos: 0,
                remaining: 0,
            };
        }
        let p = self.descend_rank(r);
        IterRev {
            tree: self,
            leaf: p.leaf,
            pos: p.pos,
            remaining: r + 1,
        }
    }
}

/// Pushes onto an arena vector growing it by a quarter, not double: at most
/// 25% slack on the big node and member arenas (glibc grows large blocks
/// in place with mremap, so the extra reallocations copy little).
pub(crate) fn push_grow<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(4));
    }
    v.push(x);
}

/// Mutable borrows of two distinct elements of a slice.
fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    debug_assert!(a != b);
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

/// Forward walk over the leaves.
pub(crate) struct Iter<'a> {
    tree: &'a OsTree,
    leaf: u32,
    pos: usize,
    remaining: usize,
}

impl Iterator for Iter<'_> {
    type Item = Item;

    #[inline]
    fn next(&mut self) -> Option<Item> {
        if self.remaining == 0 {
            return None;
        }
        let mut l = &self.tree.leaves[self.leaf as usize];
        if self.pos >= l.len as usize {
            self.leaf = l.next;
            self.pos = 0;
            l = &self.tree.leaves[self.leaf as usize];
        }
        let it = Item {
            score: l.score[self.pos],
            id: l.id[self.pos],
        };
        self.pos += 1;
        self.remaining -= 1;
        Some(it)
    }
}

/// Backward walk over the leaves.
pub(crate) struct IterRev<'a> {
    tree: &'a OsTree,
    leaf: u32,
    /// Position of the next item to return.
    pos: usize,
    remaining: usize,
}

impl Iterator for IterRev<'_> {
    type Item = Item;

    #[inline]
    fn next(&mut self) -> Option<Item> {
        if self.remaining == 0 {
            return None;
        }
        let l = &self.tree.leaves[self.leaf as usize];
        let it = Item {
            score: l.score[self.pos],
            id: l.id[self.pos],
        };
        self.remaining -= 1;
        if self.remaining > 0 {
            if self.pos == 0 {
                self.leaf = l.prev;
                self.pos = self.tree.leaves[self.leaf as usize].len as usize - 1;
            } else {
                self.pos -= 1;
            }
        }
        Some(it)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashSet};

    #[test]
    fn backward_shift_keeps_runs_whole_with_colliding_hashes() {
        // Hashes that all share home slot 7 of an 8-slot table and wrap.
        let mut t = IdTable::default();
        let n = 5u32;
        for id in 0..n {
            t.insert(7 + 8 * id, id);
        }
        for id in 0..n {
            assert!(t.find(7 + 8 * id, |x| x == id).is_some());
        }
        let s = t.find(7 + 8 * 2, |x| x == 2).unwrap();
        t.remove_at(s);
        for id in [0, 1, 3, 4] {
            assert!(t.find(7 + 8 * id, |x| x == id).is_some(), "{id}");
        }
        assert!(t.find(7 + 8 * 2, |x| x == 2).is_none());
    }

    /// A full scan, with `churn` run between steps.
    fn scan_ids(t: &mut IdTable, mut churn: impl FnMut(&mut IdTable, u32)) -> HashSet<u32> {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = t.scan_bucket(cursor, |id| {
                seen.insert(id);
            });
            churn(t, step);
            step += 1;
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn id_table_insert_find_remove_and_shrink() {
        let mut t = IdTable::default();
        let h = |i: u32| hash_bytes(&i.to_le_bytes());
        for i in 0..5000 {
            t.insert(h(i), i);
        }
        assert_eq!(t.len, 5000);
        for i in 0..5000 {
            assert!(t.find(h(i), |x| x == i).is_some());
        }
        for i in (0..5000).step_by(2) {
            let s = t.find(h(i), |x| x == i).unwrap();
            t.remove_at(s);
        }
        for i in 0..5000 {
            assert_eq!(t.find(h(i), |x| x == i).is_some(), i % 2 == 1);
        }
        assert_eq!(scan_ids(&mut t, |_, _| {}).len(), 2500);
        for i in (1..5000).step_by(2) {
            let s = t.find(h(i), |x| x == i).unwrap();
            t.remove_at(s);
        }
        assert_eq!(t.len, 0);
        assert_eq!(t.slots.len(), MIN_SLOTS);
    }

    #[test]
    fn id_table_scan_survives_grow_and_shrink_between_calls() {
        let h = |i: u32| hash_bytes(&i.to_le_bytes());
        let mut t = IdTable::default();
        for i in 0..300 {
            t.insert(h(i), i);
        }
        let seen = scan_ids(&mut t, |t, step| {
            if step < 10 {
                for j in 0..200 {
                    let id = 100_000 + step * 1000 + j;
                    t.insert(h(id), id);
                }
            } else if step < 20 {
                for j in 0..200 {
                    let id = 100_000 + (step - 10) * 1000 + j;
                    let s = t.find(h(id), |x| x == id).unwrap();
                    t.remove_at(s);
                }
            }
        });
        for i in 0..300 {
            assert!(seen.contains(&i), "missed {i}");
        }
    }

    /// Items ordered by (score, id): the id stands in for the member.
    fn before(score: f64, id: u32) -> impl Fn(f64, u32) -> bool {
        move |s, i| s < score || (s == score && i < id)
    }

    /// Checks every structural invariant and returns the items in order.
    fn check(t: &OsTree) -> Vec<(f64, u32)> {
        fn walk(
            t: &OsTree,
            node: u32,
            level: u32,
            is_root: bool,
            out: &mut Vec<(f64, u32)>,
        ) -> (usize, (f64, u32)) {
            if level == 0 {
                let l = &t.leaves[node as usize];
                if !is_root {
                    assert!(l.len > 0, "empty non-root leaf");
                }
                for i in 0..l.len as usize {
                    out.push((l.score[i], l.id[i]));
                }
                return (l.len as usize, if l.len > 0 { l.min() } else { (0.0, NIL) });
            }
            let n = &t.inners[node as usize];
            assert!(n.len >= if is_root { 2 } else { 1 }, "inner too small");
            let mut total = 0;
            for k in 0..n.len as usize {
                let (c, m) = walk(t, n.child[k], level - 1, false, out);
                assert_eq!(c, n.count[k] as usize, "count");
                assert_eq!(m, (n.min_score[k], n.min_id[k]), "min");
                total += c;
            }
            (total, n.min())
        }
        let mut out = Vec::new();
        let (n, _) = walk(t, t.root, t.height, true, &mut out);
        assert_eq!(n, t.len);
        assert!(out.windows(2).all(|w| w[0] < w[1]), "order");
        // Leaf chain agrees both ways.
        let fwd: Vec<(f64, u32)> = t.iter_from(0).map(|i| (i.score, i.id)).collect();
        assert_eq!(fwd, out);
        if !out.is_empty() {
            let mut back: Vec<(f64, u32)> = t
                .iter_rev_from(t.len - 1)
                .map(|i| (i.score, i.id))
                .collect();
            back.reverse();
            assert_eq!(back, out);
        }
        out
    }

    fn insert(t: &mut OsTree, score: f64, id: u32) {
        let p = t.descend(before(score, id));
        t.insert_at(&p, Item { score, id });
    }

    fn remove(t: &mut OsTree, score: f64, id: u32) -> Item {
        let p = t.descend_item(before(score, id));
        t.remove_at(&p)
    }

    #[test]
    fn ascending_and_descending_inserts_pack_leaves_full() {
        for desc in [false, true] {
            let mut t = OsTree::default();
            let n = 64 * 64 * 3;
            for i in 0..n {
                let s = if desc { (n - i) as f64 } else { i as f64 };
                insert(&mut t, s, i as u32);
            }
            check(&t);
            let used = t.leaves.len() - t.free_leaves.len();
            assert!(
                used <= n / LEAF_CAP + 2,
                "desc={desc}: {used} leaves for {n}"
            );
        }
    }

    #[test]
    fn rank_select_and_mass_removal() {
        let mut t = OsTree::default();
        let mut rng = crate::sample::Rng::new(11);
        let mut model = BTreeSet::new();
        for id in 0..20_000u32 {
            let s = rng.below(1000) as f64;
            insert(&mut t, s, id);
            model.insert((s as u64, id));
        }
        let items = check(&t);
        for (r, &(s, id)) in items.iter().enumerate().step_by(97) {
            assert_eq!(t.count_before(before(s, id)), r);
            assert_eq!(t.get(r), Item { score: s, id });
        }
        // Remove 95% in random order; the tree must stay valid and shrink.
        let mut all: Vec<(f64, u32)> = items.clone();
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i + 1));
        }
        for &(s, id) in &all[..19_000] {
            assert_eq!(remove(&mut t, s, id), Item { score: s, id });
        }
        let left = check(&t);
        assert_eq!(left.len(), 1000);
        assert!(t.height <= 2);
        for &(s, id) in &all[19_000..] {
            remove(&mut t, s, id);
        }
        check(&t);
        assert_eq!(t.len(), 0);
        assert_eq!(t.height, 0);
    }

    /// A predicate that is true for an arbitrary set of items (not a
    /// prefix) still sends a descent to a boundary between an item for
    /// which it holds and one for which it does not.
    #[test]
    fn descent_with_any_predicate_ends_at_a_boundary() {
        let mut rng = crate::sample::Rng::new(12);
        for n in [0u32, 1, 2, 63, 64, 65, 500, 5000] {
            let mut t = OsTree::default();
            for id in 0..n {
                insert(&mut t, f64::from(id % 7), id);
            }
            let items = check(&t);
            for density in [0, 1, 2, 8, 10] {
                let marked: Vec<bool> = (0..n).map(|_| rng.below(10) < density).collect();
                let r = t.count_before(|_, id| marked[id as usize]);
                let at = |i: usize| marked[items[i].1 as usize];
                assert!(r == 0 || at(r - 1), "n={n}: item before {r} is not before");
                assert!(r == items.len() || !at(r), "n={n}: item at {r} is before");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn tree_matches_btreeset(ops in prop::collection::vec((any::<bool>(), 0u32..40, 0u32..3000), 1..6000)) {
            let mut t = OsTree::default();
            let mut m: BTreeSet<(u32, u32)> = BTreeSet::new();
            for (i, (add, score, id)) in ops.into_iter().enumerate() {
                if add {
                    if m.insert((score, id)) {
                        insert(&mut t, f64::from(score), id);
                    }
                } else if let Some(&(s, id)) = m.range((score, 0)..).next() {
                    m.remove(&(s, id));
                    prop_assert_eq!(remove(&mut t, f64::from(s), id), Item { score: f64::from(s), id });
                }
                if i % 500 == 0 {
                    let got = check(&t);
                    let want: Vec<(f64, u32)> = m.iter().map(|&(s, i)| (f64::from(s), i)).collect();
                    prop_assert_eq!(got, want);
                }
            }
            let got = check(&t);
            let want: Vec<(f64, u32)> = m.iter().map(|&(s, i)| (f64::from(s), i)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
