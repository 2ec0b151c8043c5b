//! [`Dict`]: a chained hash table keyed by byte strings, with the two ideas
//! of Redis's `dict.c` that suit a single-threaded server: *incremental
//! rehashing* (a resize moves a bucket or so per operation instead of every
//! entry at once, so no operation stalls) and the *reverse-binary scan
//! cursor* (a stateless cursor that returns every element present for the
//! whole scan at least once, even when the table grows or shrinks between
//! calls). Reimplemented from the ideas in Redis's dict.c (S. Sanfilippo).
//!
//! # Layout and costs
//!
//! Two tables of power-of-two bucket arrays (`Vec<Option<Box<Node>>>`, 8
//! bytes per bucket); the second is non-empty only while a resize is in
//! progress. Each entry is one heap node `{ key: SmallBytes, value: V, next }`:
//! `32 + size_of::<V>()` bytes, the key inline when it has at most 23 bytes
//! (one more allocation for longer keys). For the keyspace (`V = Entry`, 48
//! bytes) a node is 80 bytes; plus one 8-byte bucket per entry at full load.
//!
//! - Lookup, insert, remove: O(1) expected; each mutating call also moves
//!   one bucket of an ongoing resize (visiting at most 10 empty buckets).
//! - The table doubles when it holds as many entries as buckets and shrinks
//!   (to the smallest power of two holding its entries) when fewer than 10%
//!   of buckets would be used. Allocating a new bucket array is a zeroed
//!   allocation, which the allocator serves with untouched zero pages.
//! - The hasher is an `ahash::RandomState` chosen per dict, so bucket order
//!   is not predictable from outside (hash flooding).
//!
//! # Not guaranteed
//!
//! - Iteration and scan order are unspecified and change on resize.
//! - `scan` may return an element more than once ([`Dict::scan_once`] does
//!   not); elements added or removed during a scan may or may not be
//!   returned.
//! - `random_entry` is uniform but not O(1): it is rejection sampling over
//!   (bucket, depth) pairs with the depth below the longest chain a table
//!   has had: between `longest` and `2 * longest` tries at the loads a
//!   resize keeps (more in a table that removals left sparse; see
//!   [`Dict::random_pos_by`]). Redis's `dictGetRandomKey` picks a random
//!   bucket and then a random element of its chain, which favours elements
//!   in short chains (a lone element comes twice as often as each of two
//!   sharing a bucket).
//! - A [`Pos`] is valid only until the next call taking `&mut self` (other
//!   than [`Dict::at_mut`]); a stale one returns an arbitrary entry or panics.

use crate::bytes::SmallBytes;
use std::mem;

/// Buckets of a table's first allocation (Redis's `DICT_HT_INITIAL_SIZE`).
const INITIAL_BUCKETS: usize = 4;
/// Empty buckets one rehash step may skip per bucket it is asked to move,
/// so that a step over a sparse table stays bounded.
const EMPTY_VISITS_PER_STEP: usize = 10;
/// A table whose fill drops below this percentage shrinks (Redis's
/// `HASHTABLE_MIN_FILL`).
const MIN_FILL_PERCENT: usize = 10;

type Link<V> = Option<Box<Node<V>>>;

struct Node<V> {
    key: SmallBytes,
    value: V,
    next: Link<V>,
}

struct Table<V> {
    buckets: Vec<Link<V>>,
    used: usize,
    /// The longest chain this table has had: a bound on every chain's
    /// length, which uniform sampling needs. Removals leave it as is, so it
    /// can be stale high, which costs sampling tries but never uniformity.
    longest: u32,
}

impl<V> Table<V> {
    const fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
            longest: 0,
        }
    }

    fn with_buckets(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        let mut buckets = Vec::with_capacity(n);
        // Compiles to a zeroed allocation (`None` is a null pointer).
        buckets.resize_with(n, || None);
        Table {
            buckets,
            used: 0,
            longest: 0,
        }
    }

    /// Raises `longest` to the length of bucket `b`'s chain if needed
    /// (after a node was linked there).
    #[inline]
    fn note_chain(&mut self, b: usize) {
        let mut len = 0;
        let mut cur = self.buckets[b].as_deref();
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        self.longest = self.longest.max(len);
    }

    #[inline]
    fn index(&self, hash: u64) -> usize {
        hash as usize & (self.buckets.len() - 1)
    }

    #[inline]
    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }
}

/// Where an entry sits: table, bucket, and depth in the bucket's chain.
/// Obtained from [`Dict::find`], used with [`Dict::at`] / [`Dict::at_mut`]
/// to get at an entry twice without hashing or comparing keys again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    table: u8,
    bucket: usize,
    depth: u32,
}

/// A hash table from byte-string keys to `V`; see the module doc.
pub struct Dict<V> {
    ht: [Table<V>; 2],
    /// The next bucket of `ht[0]` to move while `ht[1]` is being filled.
    rehash_idx: usize,
    hasher: ahash::RandomState,
    /// Heap bytes owned by keys longer than the inline capacity.
    key_heap: usize,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    /// Size of one entry's node on the heap (before allocator overhead).
    pub const NODE_SIZE: usize = mem::size_of::<Node<V>>();

    /// An empty dict; allocates nothing until the first insert.
    pub fn new() -> Self {
        Dict {
            ht: [Table::empty(), Table::empty()],
            rehash_idx: 0,
            hasher: ahash::RandomState::new(),
            key_heap: 0,
        }
    }

    /// An empty dict with room for `n` entries before its first resize.
    pub fn with_capacity(n: usize) -> Self {
        let mut d = Self::new();
        if n > 0 {
            d.ht[0] = Table::with_buckets(n.next_power_of_two().max(INITIAL_BUCKETS));
        }
        d
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a resize is in progress.
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        !self.ht[1].buckets.is_empty()
    }

    /// Buckets in both tables.
    pub fn buckets(&self) -> usize {
        self.ht[0].buckets.len() + self.ht[1].buckets.len()
    }

    /// Heap bytes of the table structure: bucket arrays, nodes and long
    /// keys, allocator overhead included; not what values own on the heap.
    pub fn heap_bytes(&self) -> usize {
        let buckets = self.ht[0].buckets.capacity() + self.ht[1].buckets.capacity();
        let bucket_bytes = crate::malloc_size(buckets * mem::size_of::<Link<V>>());
        bucket_bytes + self.len() * crate::malloc_size(Self::NODE_SIZE) + self.key_heap
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    // ---- prefetching ------------------------------------------------------

    /// Asks the CPU to start loading the bucket slot a lookup of `key`
    /// reads first, and returns the key's hash for
    /// [`prefetch_chain`](Self::prefetch_chain). A lookup in a table
    /// bigger than the caches waits for two loads one after the other (the
    /// slot, then the node it points to); a caller that knows several keys
    /// it is about to look up (a pipeline, a batch from another shard)
    /// hints all their slots, then all their chains, so the loads overlap
    /// instead. `hint` issues the CPU's prefetch for an address (kevy-sys's
    /// `hint::prefetch`); nothing here reads through the addresses it gets.
    #[inline]
    pub fn prefetch(&self, key: &[u8], hint: impl Fn(*const u8)) -> u64 {
        let h = self.hash(key);
        for t in 0..=(self.is_rehashing() as usize) {
            let tb = &self.ht[t];
            // `mask`, not `index`: a table not yet allocated has no slot.
            if let Some(slot) = tb.buckets.get((h & tb.mask()) as usize) {
                hint(slot as *const Link<V> as *const u8);
            }
        }
        h
    }

    /// Asks the CPU to start loading the first node of the chain that
    /// [`prefetch`](Self::prefetch) returned `hash` for: call it once that
    /// slot is likely in cache.
    #[inline]
    pub fn prefetch_chain(&self, hash: u64, hint: impl Fn(*const u8)) {
        for t in 0..=(self.is_rehashing() as usize) {
            let tb = &self.ht[t];
            if let Some(Some(n)) = tb.buckets.get((hash & tb.mask()) as usize) {
                // A node is bigger than a line and not line-aligned.
                let p = &**n as *const Node<V> as *const u8;
                hint(p);
                hint(p.wrapping_add(mem::size_of::<Node<V>>() - 1));
            }
        }
    }

    /// Asks the CPU to start loading what the first node of `hash`'s chain
    /// keeps outside itself (`outside`: the value's bytes on the heap, if
    /// any): call it once that node is likely in cache, after
    /// [`prefetch_chain`](Self::prefetch_chain). Up to the first two
    /// lines of the bytes: a lookup that copies more is bound by the copy.
    #[inline]
    pub fn prefetch_outside(
        &self,
        hash: u64,
        hint: impl Fn(*const u8),
        outside: impl Fn(&V) -> Option<&[u8]>,
    ) {
        for t in 0..=(self.is_rehashing() as usize) {
            let tb = &self.ht[t];
            if let Some(Some(n)) = tb.buckets.get((hash & tb.mask()) as usize) {
                if let Some(b) = outside(&n.value) {
                    let p = b.as_ptr();
                    hint(p);
                    hint(p.wrapping_add(b.len().min(128) - 1));
                }
            }
        }
    }

    // ---- lookups -----------------------------------------------------------

    /// Finds `key`, returning where it sits.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<Pos> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key);
        for t in 0..=(self.is_rehashing() as usize) {
            let tb = &self.ht[t];
            let bucket = tb.index(h);
            let mut cur = tb.buckets[bucket].as_deref();
            let mut depth = 0;
            while let Some(n) = cur {
                if n.key.as_bytes() == key {
                    return Some(Pos {
                        table: t as u8,
                        bucket,
                        depth,
                    });
                }
                depth += 1;
                cur = n.next.as_deref();
            }
        }
        None
    }

    fn node_at(&self, pos: Pos) -> &Node<V> {
        let mut n = self.ht[pos.table as usize].buckets[pos.bucket]
            .as_deref()
            .expect("stale dict position");
        for _ in 0..pos.depth {
            n = n.next.as_deref().expect("stale dict position");
        }
        n
    }

    /// The entry at `pos` (from [`find`](Self::find) on the unchanged dict).
    #[inline]
    pub fn at(&self, pos: Pos) -> (&[u8], &V) {
        let n = self.node_at(pos);
        (n.key.as_bytes(), &n.value)
    }

    /// The entry at `pos`, its value mutable.
    #[inline]
    pub fn at_mut(&mut self, pos: Pos) -> (&[u8], &mut V) {
        let mut n = self.ht[pos.table as usize].buckets[pos.bucket]
            .as_deref_mut()
            .expect("stale dict position");
        for _ in 0..pos.depth {
            n = n.next.as_deref_mut().expect("stale dict position");
        }
        (n.key.as_bytes(), &mut n.value)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|p| self.at(p).1)
    }

    #[inline]
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&[u8], &V)> {
        self.find(key).map(|p| self.at(p))
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The value of `key`, mutable. Advances an ongoing resize by one step.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.rehash_step();
        let pos = self.find(key)?;
        Some(self.at_mut(pos).1)
    }

    // ---- updates -----------------------------------------------------------

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.rehash_step();
        if let Some(pos) = self.find(key) {
            return Some(mem::replace(self.at_mut(pos).1, value));
        }
        self.insert_new(SmallBytes::new(key), value);
        None
    }

    /// Inserts with an owned key (no copy when the key is already a
    /// `SmallBytes`); replaces and returns the previous value if present.
    pub fn insert_key(&mut self, key: SmallBytes, value: V) -> Option<V> {
        self.rehash_step();
        if let Some(pos) = self.find(&key) {
            return Some(mem::replace(self.at_mut(pos).1, value));
        }
        self.insert_new(key, value);
        None
    }

    /// The value of `key`, inserting `make()` first when absent; the flag is
    /// true when it was inserted.
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> (&mut V, bool) {
        self.rehash_step();
        if let Some(pos) = self.find(key) {
            return (self.at_mut(pos).1, false);
        }
        let pos = self.insert_new(SmallBytes::new(key), make());
        (self.at_mut(pos).1, true)
    }

    /// Inserts `key`, which the caller knows is absent (checked only in
    /// debug builds), saving the lookup `insert` does first.
    pub fn insert_unique(&mut self, key: &[u8], value: V) -> Pos {
        debug_assert!(self.find(key).is_none(), "insert_unique of a present key");
        self.rehash_step();
        self.insert_new(SmallBytes::new(key), value)
    }

    /// Links a node for a key known to be absent at the head of its bucket.
    fn insert_new(&mut self, key: SmallBytes, value: V) -> Pos {
        self.expand_if_needed();
        let h = self.hash(&key);
        self.key_heap += key.heap_bytes();
        let t = self.is_rehashing() as usize;
        let tb = &mut self.ht[t];
        let bucket = tb.index(h);
        let next = tb.buckets[bucket].take();
        tb.buckets[bucket] = Some(Box::new(Node { key, value, next }));
        tb.used += 1;
        tb.note_chain(bucket);
        Pos {
            table: t as u8,
            bucket,
            depth: 0,
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, handing back the stored key and value.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(SmallBytes, V)> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key);
        for t in 0..=(self.is_rehashing() as usize) {
            let tb = &mut self.ht[t];
            let bucket = tb.index(h);
            let mut link = &mut tb.buckets[bucket];
            while link.as_ref().is_some_and(|n| n.key.as_bytes() != key) {
                link = &mut link.as_mut().expect("checked non-empty").next;
            }
            if let Some(mut node) = link.take() {
                *link = node.next.take();
                tb.used -= 1;
                self.key_heap -= node.key.heap_bytes();
                let Node { key, value, .. } = *node;
                self.shrink_if_needed();
                return Some((key, value));
            }
        }
        None
    }

    /// Removes every entry and frees the tables.
    pub fn clear(&mut self) {
        self.ht = [Table::empty(), Table::empty()];
        self.rehash_idx = 0;
        self.key_heap = 0;
    }

    /// Keeps only the entries for which `keep` returns true. O(n).
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        for t in 0..2 {
            let tb = &mut self.ht[t];
            for b in 0..tb.buckets.len() {
                let mut chain = tb.buckets[b].take();
                let mut kept: Link<V> = None;
                while let Some(mut node) = chain {
                    chain = node.next.take();
                    if keep(node.key.as_bytes(), &mut node.value) {
                        node.next = kept;
                        kept = Some(node);
                    } else {
                        tb.used -= 1;
                        self.key_heap -= node.key.heap_bytes();
                    }
                }
                tb.buckets[b] = kept;
            }
        }
        self.shrink_if_needed();
    }

    /// Moves every entry out, leaving the dict empty.
    pub fn drain(&mut self) -> IntoIter<V> {
        mem::take(self).into_iter()
    }

    // ---- resizing ----------------------------------------------------------

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.ht[0].buckets.len();
        if size == 0 {
            self.ht[0] = Table::with_buckets(INITIAL_BUCKETS);
        } else if self.ht[0].used >= size {
            self.resize_to((self.ht[0].used + 1).next_power_of_two());
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.ht[0].buckets.len();
        let used = self.ht[0].used;
        if size > INITIAL_BUCKETS && used * 100 < size * MIN_FILL_PERCENT {
            self.resize_to(used.next_power_of_two().max(INITIAL_BUCKETS));
        }
    }

    /// Starts moving every entry into a table of `n` buckets.
    fn resize_to(&mut self, n: usize) {
        debug_assert!(!self.is_rehashing());
        if self.ht[0].used == 0 {
            self.ht[0] = Table::with_buckets(n);
            return;
        }
        self.ht[1] = Table::with_buckets(n);
        self.rehash_idx = 0;
    }

    /// Moves one bucket of an ongoing resize, if any.
    #[inline]
    pub fn rehash_step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Moves up to `n` buckets of an ongoing resize (skipping at most `10n`
    /// empty ones). Returns whether the resize is still in progress.
    pub fn rehash(&mut self, n: usize) -> bool {
        if !self.is_rehashing() {
            return false;
        }
        let mut empty_visits = n * EMPTY_VISITS_PER_STEP;
        let mask1 = self.ht[1].buckets.len() - 1;
        for _ in 0..n {
            if self.ht[0].used == 0 {
                break;
            }
            // `used > 0`, so a non-empty bucket lies at or after rehash_idx.
            while self.ht[0].buckets[self.rehash_idx].is_none() {
                self.rehash_idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    return true;
                }
            }
            let mut chain = self.ht[0].buckets[self.rehash_idx].take();
            while let Some(mut node) = chain {
                chain = node.next.take();
                let b = self.hasher.hash_one(node.key.as_bytes()) as usize & mask1;
                node.next = self.ht[1].buckets[b].take();
                self.ht[1].buckets[b] = Some(node);
                self.ht[0].used -= 1;
                self.ht[1].used += 1;
                self.ht[1].note_chain(b);
            }
            self.rehash_idx += 1;
        }
        if self.ht[0].used == 0 {
            self.ht[0] = mem::replace(&mut self.ht[1], Table::empty());
            self.rehash_idx = 0;
            // Removals during the resize may call for a smaller table still.
            self.shrink_if_needed();
            return self.is_rehashing();
        }
        true
    }

    // ---- iteration, scan, sampling ----------------------------------------

    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            tables: [&self.ht[0].buckets, &self.ht[1].buckets],
            table: 0,
            bucket: 0,
            node: None,
            remaining: self.len(),
        }
    }

    /// Keys only.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Calls `f` on every entry with its value mutable.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&[u8], &mut V)) {
        for tb in &mut self.ht {
            for b in tb.buckets.iter_mut() {
                let mut cur = b.as_deref_mut();
                while let Some(n) = cur {
                    f(n.key.as_bytes(), &mut n.value);
                    cur = n.next.as_deref_mut();
                }
            }
        }
    }

    fn emit_bucket(&self, t: usize, idx: u64, f: &mut impl FnMut(&[u8], &V)) {
        let mut cur = self.ht[t].buckets[idx as usize].as_deref();
        while let Some(n) = cur {
            f(n.key.as_bytes(), &n.value);
            cur = n.next.as_deref();
        }
    }

    /// One step of a stateless scan: calls `f` on the entries of the
    /// bucket(s) `cursor` names and returns the next cursor, 0 when the scan
    /// is complete. Start with 0.
    ///
    /// The cursor counts with its bits reversed, so that a bucket `i` of a
    /// table with mask `m` is visited after all buckets whose index, read
    /// backwards, is smaller. Growing the table splits bucket `i` into
    /// buckets `i` and `i | (m+1)` (the new high bit), which then come next
    /// in reversed order; shrinking merges them back into a bucket that was
    /// not yet visited in full. Either way, every element that stays in the
    /// dict for the whole scan is returned at least once; some may come
    /// twice. While a resize is in progress, the bucket of the smaller table
    /// and all its expansions in the larger one are visited in one step.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let m0 = self.ht[0].mask();
            self.emit_bucket(0, v & m0, &mut f);
            v = next_reversed(v, m0);
        } else {
            let (small, big) = if self.ht[0].buckets.len() <= self.ht[1].buckets.len() {
                (0, 1)
            } else {
                (1, 0)
            };
            let m0 = self.ht[small].mask();
            let m1 = self.ht[big].mask();
            self.emit_bucket(small, v & m0, &mut f);
            loop {
                self.emit_bucket(big, v & m1, &mut f);
                v = next_reversed(v, m1);
                // Stop once the bits only the larger table has wrap to 0.
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// [`scan`](Self::scan) without the repeats: each call returns only the
    /// entries the scan has not passed yet, so over a whole scan an entry
    /// is returned at most once, and every entry present for the whole
    /// scan exactly once, however the table grows or shrinks in between.
    ///
    /// Why: read the cursor's bits reversed as a position in the hash
    /// space, ordered by reversed hash. A call with cursor `c` visits
    /// bucket `c & mask`, which holds the hashes whose reversed value lies
    /// in a range starting at or before `rev(c)`, and returns `next` with
    /// `rev(next)` the end of that range (with a resize in progress, the
    /// smaller table's bucket and its expansions in the larger cover the
    /// same range). The range starts exactly at `rev(c)` unless `c` has
    /// bits above the mask, which happens only when the table shrank since
    /// `c` was returned. So the calls cover consecutive ranges from 0, and
    /// after a call that returned `c` the scan has passed exactly the
    /// entries whose hash `h` has `rev(h) < rev(c)` ([`ScanOrder::passed`]);
    /// the repeats `scan` gives after a shrink are those, and this skips
    /// them. Only such calls hash the entries they see.
    pub fn scan_once(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut finest = self.ht[0].mask();
        if self.is_rehashing() {
            finest = finest.min(self.ht[1].mask());
        }
        if cursor & !finest == 0 {
            // The bucket's range starts at the cursor: nothing in it passed.
            return self.scan(cursor, f);
        }
        self.scan(cursor, |k, v| {
            if !passed(cursor, self.hash(k)) {
                f(k, v);
            }
        })
    }

    /// This dict's hash function, to ask where a key lies in its scan
    /// order without the dict at hand (see [`ScanOrder`]).
    pub fn scan_order(&self) -> ScanOrder {
        ScanOrder {
            hasher: self.hasher.clone(),
        }
    }

    /// Up to `n` entries from a run of buckets starting at a random one
    /// (Redis's `dictGetSomeKeys`): cheaper than `n` uniform draws, and
    /// less uniform (neighbours come together), which eviction sampling
    /// accepts. Stops early after visiting `10 * n` empty buckets in a
    /// row... or every bucket.
    pub fn sample_some(&self, n: usize, mut f: impl FnMut(&[u8], &V)) {
        if self.is_empty() || n == 0 {
            return;
        }
        let tables: &[usize] = if self.is_rehashing() { &[0, 1] } else { &[0] };
        let biggest = tables
            .iter()
            .map(|&t| self.ht[t].buckets.len())
            .max()
            .unwrap_or(0);
        let mut i = crate::rng::below(biggest as u64) as usize;
        let (mut got, mut empty) = (0, 0);
        for _ in 0..biggest {
            let mut any = false;
            for &t in tables {
                let buckets = &self.ht[t].buckets;
                // Buckets of ht[0] below rehash_idx are empty by now.
                if i >= buckets.len() || (t == 0 && self.is_rehashing() && i < self.rehash_idx) {
                    continue;
                }
                let mut cur = buckets[i].as_deref();
                while let Some(node) = cur {
                    any = true;
                    f(&node.key, &node.value);
                    got += 1;
                    if got >= n {
                        return;
                    }
                    cur = node.next.as_deref();
                }
            }
            empty = if any { 0 } else { empty + 1 };
            if empty >= 10 * n {
                return;
            }
            i = (i + 1) % biggest;
        }
    }

    /// A uniformly random entry drawn with the per-thread generator, or
    /// `None` when empty.
    pub fn random_entry(&self) -> Option<(&[u8], &V)> {
        self.random_pos().map(|p| self.at(p))
    }

    /// Where a uniformly random entry sits (per-thread generator), or
    /// `None` when empty.
    pub fn random_pos(&self) -> Option<Pos> {
        self.random_pos_by(crate::rng::below)
    }

    /// Where a uniformly random entry sits, or `None` when empty; `below(n)`
    /// must return a uniform value in `0..n`.
    ///
    /// Every try picks one of the live buckets and a depth below the
    /// longest chain either table has had, all pairs equally likely, and
    /// keeps the entry at that depth if the chain reaches it. Each entry is
    /// one such pair, so each is equally likely, whatever the chains look
    /// like. Picking a bucket and then an entry of its chain would favour
    /// entries in short chains.
    pub fn random_pos_by(&self, mut below: impl FnMut(u64) -> u64) -> Option<Pos> {
        if self.is_empty() {
            return None;
        }
        let depths = u64::from(self.ht[0].longest.max(self.ht[1].longest));
        debug_assert!(depths > 0);
        loop {
            let (table, bucket) = if self.is_rehashing() {
                // Buckets of ht[0] below rehash_idx are empty by now.
                let s0 = self.ht[0].buckets.len();
                let span = (s0 + self.ht[1].buckets.len() - self.rehash_idx) as u64;
                let i = self.rehash_idx + below(span) as usize;
                if i >= s0 {
                    (1, i - s0)
                } else {
                    (0, i)
                }
            } else {
                (0, below(self.ht[0].buckets.len() as u64) as usize)
            };
            let depth = below(depths) as u32;
            let mut cur = self.ht[table].buckets[bucket].as_deref();
            for _ in 0..depth {
                cur = cur.and_then(|n| n.next.as_deref());
            }
            if cur.is_some() {
                return Some(Pos {
                    table: table as u8,
                    bucket,
                    depth,
                });
            }
        }
    }
}

/// Where keys lie in the scan order of one dict: its hash function, held
/// apart from it, for a party that sees keys but not the dict (a store
/// observer following a scan). It stays valid while the dict keeps its
/// hasher, which is for the dict's life (a clone keeps it too; a new
/// dict, as a flushed database gets, has another).
#[derive(Clone)]
pub struct ScanOrder {
    hasher: ahash::RandomState,
}

impl ScanOrder {
    /// Whether a scan whose last call returned `cursor` has passed `key`:
    /// if the key was in the dict when the scan went past it, that call
    /// returned it, and [`Dict::scan_once`] will not return it again.
    /// False for cursor 0, a scan not started (0 also ends a scan; the
    /// caller knows which it is).
    pub fn passed(&self, cursor: u64, key: &[u8]) -> bool {
        passed(cursor, self.hasher.hash_one(key))
    }
}

/// Whether hash `h` lies before cursor `c` in reversed-bit order.
#[inline]
fn passed(c: u64, h: u64) -> bool {
    h.reverse_bits() < c.reverse_bits()
}

/// Increments `v` in reversed-bit order over the bits of `mask`.
#[inline]
fn next_reversed(v: u64, mask: u64) -> u64 {
    // Setting the bits above the mask makes the carry of the reversed
    // increment run off the top once the masked bits are exhausted.
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

impl<V: Clone> Clone for Dict<V> {
    fn clone(&self) -> Self {
        let mut d = Dict {
            ht: [Table::empty(), Table::empty()],
            rehash_idx: 0,
            hasher: self.hasher.clone(),
            key_heap: 0,
        };
        if !self.is_empty() {
            d.ht[0] = Table::with_buckets(self.len().next_power_of_two().max(INITIAL_BUCKETS));
        }
        for (k, v) in self.iter() {
            d.insert_new(SmallBytes::new(k), v.clone());
        }
        d
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for Dict<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
            .finish()
    }
}

/// Borrowing iterator over `(key, value)`.
pub struct Iter<'a, V> {
    tables: [&'a [Link<V>]; 2],
    table: usize,
    bucket: usize,
    node: Option<&'a Node<V>>,
    remaining: usize,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a [u8], &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next.as_deref();
                self.remaining -= 1;
                return Some((n.key.as_bytes(), &n.value));
            }
            if self.remaining == 0 {
                return None;
            }
            let tb = self.tables[self.table];
            if self.bucket < tb.len() {
                self.node = tb[self.bucket].as_deref();
                self.bucket += 1;
            } else {
                self.table += 1;
                self.bucket = 0;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}

impl<'a, V> IntoIterator for &'a Dict<V> {
    type Item = (&'a [u8], &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

/// Owning iterator over `(key, value)`.
pub struct IntoIter<V> {
    buckets: std::iter::Chain<std::vec::IntoIter<Link<V>>, std::vec::IntoIter<Link<V>>>,
    chain: Link<V>,
    remaining: usize,
}

impl<V> Iterator for IntoIter<V> {
    type Item = (SmallBytes, V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(mut node) = self.chain.take() {
                self.chain = node.next.take();
                self.remaining -= 1;
                let Node { key, value, .. } = *node;
                return Some((key, value));
            }
            if self.remaining == 0 {
                return None;
            }
            self.chain = self.buckets.next()?;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<V> ExactSizeIterator for IntoIter<V> {}

impl<V> IntoIterator for Dict<V> {
    type Item = (SmallBytes, V);
    type IntoIter = IntoIter<V>;
    fn into_iter(self) -> IntoIter<V> {
        let remaining = self.len();
        let [t0, t1] = self.ht;
        IntoIter {
            buckets: t0.buckets.into_iter().chain(t1.buckets),
            chain: None,
            remaining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_some_gives_present_entries_and_reaches_them_all() {
        let mut d: Dict<u32> = Dict::new();
        d.sample_some(5, |_, _| panic!("empty"));
        for i in 0..1000u32 {
            d.insert(format!("k{i}").as_bytes(), i);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let mut got = 0;
            d.sample_some(5, |k, &v| {
                assert_eq!(k, format!("k{v}").as_bytes());
                seen.insert(v);
                got += 1;
            });
            assert_eq!(got, 5);
        }
        assert!(seen.len() > 950, "{} of 1000 reached", seen.len());
        // While rehashing, from both tables.
        for i in 1000..1100u32 {
            d.insert(format!("k{i}").as_bytes(), i);
        }
        let mut got = 0;
        d.sample_some(2000, |_, _| got += 1);
        assert_eq!(got, 1100);
    }
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    fn key(i: u32) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn node_sizes_are_pinned() {
        assert_eq!(Dict::<()>::NODE_SIZE, 32);
        assert_eq!(Dict::<u64>::NODE_SIZE, 40);
    }

    #[test]
    fn insert_get_remove_through_resizes() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            assert_eq!(d.insert(&key(i), i), None);
        }
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000 {
            assert_eq!(d.get(&key(i)), Some(&i));
        }
        assert_eq!(d.insert(&key(7), 70), Some(7));
        *d.get_mut(&key(8)).unwrap() = 80;
        assert_eq!(d.get(&key(8)), Some(&80));
        for i in 0..9_990 {
            assert!(d.remove(&key(i)).is_some(), "{i}");
        }
        assert_eq!(d.remove(&key(3)), None);
        assert_eq!(d.len(), 10);
        while d.rehash(100) {}
        // A shrink sizes the table for the entries present when it starts,
        // and removals during it only shrink further once the table is under
        // MIN_FILL_PERCENT full, so 10 entries may end in 16, 32 or 64
        // buckets depending on how the steps fell (the hash seed is random).
        assert!(
            d.buckets() * MIN_FILL_PERCENT <= 100 * d.len().max(INITIAL_BUCKETS),
            "shrunk: {}",
            d.buckets()
        );
        let mut rest: Vec<u32> = d.iter().map(|(_, v)| *v).collect();
        rest.sort();
        assert_eq!(rest, (9_990..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn long_keys_are_accounted() {
        let mut d = Dict::new();
        let base = d.heap_bytes();
        d.insert(&[b'x'; 100], ());
        assert!(d.heap_bytes() >= base + 100 + Dict::<()>::NODE_SIZE);
        d.remove(&[b'x'; 100]);
        d.clear();
        assert_eq!(d.heap_bytes(), base);
    }

    #[test]
    fn get_or_insert_with_reports_insertion() {
        let mut d: Dict<Vec<u8>> = Dict::new();
        let (v, new) = d.get_or_insert_with(b"a", Vec::new);
        assert!(new);
        v.push(1);
        let (v, new) = d.get_or_insert_with(b"a", Vec::new);
        assert!(!new);
        assert_eq!(v, &[1]);
    }

    /// The prefetch hints are safe on a table never allocated, on one in
    /// the middle of a resize (both tables) and for missing keys, and
    /// change no lookup.
    #[test]
    fn prefetch_hints_change_nothing() {
        // Counts the addresses hinted.
        let hinted = std::cell::Cell::new(0);
        let hint = |p: *const u8| {
            assert!(!p.is_null());
            hinted.set(hinted.get() + 1);
        };
        let mut d: Dict<u32> = Dict::new();
        let h = d.prefetch(b"nothing", hint);
        d.prefetch_chain(h, hint);
        assert_eq!(
            hinted.get(),
            0,
            "a table never allocated has nothing to hint"
        );
        assert_eq!(d.get(b"nothing"), None);
        for i in 0..100 {
            d.insert(&key(i), i);
        }
        for i in 100..129 {
            d.insert(&key(i), i);
        }
        for round in 0..2 {
            let hashes: Vec<u64> = (0..200).map(|i| d.prefetch(&key(i), hint)).collect();
            for &h in &hashes {
                d.prefetch_chain(h, hint);
            }
            assert!(
                hinted.get() >= 200 + 129,
                "every slot and every present key's chain"
            );
            for i in 0..200 {
                assert_eq!(d.get(&key(i)), (i < 129).then_some(&i), "round {round}");
            }
            d.rehash(1000);
            assert!(!d.is_rehashing());
        }
    }

    #[test]
    fn outside_hints_fall_inside_the_values_bytes() {
        let hinted = std::cell::RefCell::new(Vec::new());
        let hint = |p: *const u8| hinted.borrow_mut().push(p as usize);
        #[allow(clippy::ptr_arg)] // the signature `prefetch_outside` takes
        fn outside(v: &Vec<u8>) -> Option<&[u8]> {
            (v.len() > 23).then_some(&v[..])
        }
        let mut d: Dict<Vec<u8>> = Dict::new();
        d.prefetch_outside(d.hash(b"nothing"), hint, outside);
        assert!(hinted.borrow().is_empty(), "no table, no hint");
        // Values of every length up to 300 bytes, inserted across a resize.
        for i in 0..300u32 {
            d.insert(&key(i), vec![i as u8; i as usize]);
        }
        for round in 0..2 {
            hinted.borrow_mut().clear();
            for i in 0..400u32 {
                d.prefetch_outside(d.hash(&key(i)), hint, outside);
            }
            // Where the hints may point: into the bytes of a value kept
            // out of line, at most its first 128.
            let ranges: Vec<(usize, usize)> = d
                .iter()
                .filter_map(|(_, v)| outside(v))
                .map(|b| (b.as_ptr() as usize, b.as_ptr() as usize + b.len().min(128)))
                .collect();
            let hints = hinted.borrow();
            assert!(
                hints.len() >= 2 * 100,
                "round {round}: {} hints",
                hints.len()
            );
            for &p in hints.iter() {
                assert!(
                    ranges.iter().any(|&(a, z)| a <= p && p < z),
                    "round {round}: a hint outside every value"
                );
            }
            for i in 0..300u32 {
                assert_eq!(d.get(&key(i)).map(Vec::len), Some(i as usize));
            }
            d.rehash(1000);
        }
    }

    #[test]
    fn iterators_see_everything_mid_rehash() {
        let mut d = Dict::new();
        for i in 0..100 {
            d.insert(&key(i), i);
        }
        // Force a resize and stop halfway.
        for i in 100..129 {
            d.insert(&key(i), i);
        }
        assert!(d.is_rehashing() || d.len() == 129);
        let seen: HashSet<u32> = d.iter().map(|(_, v)| *v).collect();
        assert_eq!(seen.len(), 129);
        assert_eq!(d.iter().len(), 129);
        let mut c = d.clone();
        c.for_each_mut(|_, v| *v += 1);
        assert_eq!(c.get(&key(5)), Some(&6));
        let drained: HashSet<u32> = c.drain().map(|(_, v)| v).collect();
        assert_eq!(drained.len(), 129);
        assert!(c.is_empty());
        d.retain(|_, v| *v % 2 == 0);
        assert_eq!(d.len(), 65);
        assert!(d.iter().all(|(_, v)| v % 2 == 0));
    }

    #[test]
    fn scan_visits_all_without_changes() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(&key(i), i);
        }
        let mut seen = HashSet::new();
        let mut cur = 0;
        loop {
            cur = d.scan(cur, |_, v| {
                seen.insert(*v);
            });
            if cur == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        assert_eq!(Dict::<u32>::new().scan(0, |_, _| panic!()), 0);
    }

    /// A shrink in the middle of a scan makes `scan` return some elements
    /// again (those of the merged bucket it had passed: less than one on
    /// average, so it takes a few dicts, each with its own hasher, to see
    /// one); `scan_once` returns each of them once.
    #[test]
    fn scan_once_skips_the_repeats_of_a_shrink() {
        let stable = |i: u32| i.is_multiple_of(100);
        // Elements `scan` (or `scan_once`) returned more than once in one
        // scan that shrinks the table from 8192 buckets to 64 a third of
        // the way through.
        let repeats = |once: bool| {
            let mut d = Dict::new();
            for i in 0..5000 {
                d.insert(&key(i), i);
            }
            let mut hits: HashMap<u32, u32> = HashMap::new();
            let mut cur = 0;
            let mut calls = 0;
            loop {
                let mut f = |_: &[u8], v: &u32| *hits.entry(*v).or_default() += 1;
                cur = if once {
                    d.scan_once(cur, &mut f)
                } else {
                    d.scan(cur, &mut f)
                };
                if cur == 0 {
                    break;
                }
                calls += 1;
                if calls == 3000 {
                    d.retain(|_, v| stable(*v));
                    while d.rehash(100) {}
                }
            }
            assert!((0..5000)
                .filter(|&i| stable(i))
                .all(|i| hits.contains_key(&i)));
            hits.values().filter(|&&n| n > 1).count()
        };
        assert!(
            (0..200).any(|_| repeats(false) > 0),
            "the shrink makes scan repeat elements"
        );
        for _ in 0..20 {
            assert_eq!(repeats(true), 0);
        }
    }

    #[test]
    fn random_entry_reaches_every_element() {
        let mut d = Dict::new();
        for i in 0..8 {
            d.insert(&key(i), i);
        }
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            seen.insert(*d.random_entry().unwrap().1);
        }
        assert_eq!(seen.len(), 8);
        assert!(Dict::<u32>::new().random_entry().is_none());
    }

    /// Whether every chain of both tables is within its table's `longest`.
    fn chains_within_bound<V>(d: &Dict<V>) -> bool {
        d.ht.iter().all(|tb| {
            tb.buckets.iter().all(|b| {
                let mut len = 0;
                let mut cur = b.as_deref();
                while let Some(n) = cur {
                    len += 1;
                    cur = n.next.as_deref();
                }
                len <= tb.longest
            })
        })
    }

    /// Uniform draws at rest and in the middle of a grow and of a shrink,
    /// chi-square tested (see `sample::uniformity`).
    #[test]
    fn random_pos_is_uniform_at_rest_and_mid_resize() {
        use crate::sample::{uniformity::check, Rng};
        let mut rng = Rng::new(0x5eed_0004);
        let mut d = Dict::new();
        // 300 keys: 512 buckets, many chains of two or more.
        let mut keys: Vec<Vec<u8>> = (0..300).map(key).collect();
        for k in &keys {
            d.insert(k, ());
        }
        let mut draw = |d: &Dict<()>, what: &str, keys: &[Vec<u8>]| {
            assert!(chains_within_bound(d), "{what}: a chain over its bound");
            check(what, keys, |hit| {
                for _ in 0..1000 * keys.len() {
                    let p = d.random_pos_by(|n| rng.below(n as usize) as u64).unwrap();
                    hit(d.at(p).0);
                }
            });
        };
        draw(&d, "at rest", &keys);
        // The 513th key starts a grow; one step moves a bucket.
        while d.len() < 513 {
            let k = key(keys.len() as u32);
            d.insert(&k, ());
            keys.push(k);
        }
        assert!(d.is_rehashing());
        draw(&d, "mid grow", &keys);
        while d.is_rehashing() {
            d.rehash(1);
        }
        // Removing down to under a tenth of 1024 buckets starts a shrink.
        while d.len() > 100 {
            d.remove(&keys.pop().unwrap());
        }
        assert!(d.is_rehashing());
        draw(&d, "mid shrink", &keys);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Remove(u16),
        Rehash(u8),
    }

    /// Applies a step of a scan test's writes: inserts of keys apart from
    /// the initial ones, removes of any but the `stable` ones, rehashing.
    fn apply(d: &mut Dict<()>, ops: &[Op], stable: &HashSet<u32>) {
        for o in ops {
            match *o {
                Op::Insert(i) => {
                    d.insert(&key(i as u32 + 10_000), ());
                }
                Op::Remove(i) => {
                    let i = i as u32;
                    if !stable.contains(&i) {
                        d.remove(&key(i));
                    }
                    d.remove(&key(i + 10_000));
                }
                Op::Rehash(n) => {
                    d.rehash(n as usize);
                }
            }
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..2000).prop_map(Op::Insert),
            (0u16..2000).prop_map(Op::Remove),
            (0u8..50).prop_map(Op::Rehash),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every element present for the whole scan is returned, whatever
        /// inserts, removes and resizes happen between the calls.
        #[test]
        fn scan_returns_everything_present_throughout(
            initial in 0u16..600,
            stable_every in 1u16..5,
            ops in proptest::collection::vec(proptest::collection::vec(op(), 0..40), 1..200),
        ) {
            let mut d = Dict::new();
            for i in 0..initial {
                d.insert(&key(i as u32), ());
            }
            // Keys that are never removed: the ones the scan must return.
            let stable: HashSet<u32> =
                (0..initial).filter(|i| i % stable_every == 0).map(|i| i as u32).collect();
            let mut seen = HashSet::new();
            let mut cur = 0;
            let mut steps = 0;
            loop {
                cur = d.scan(cur, |k, _| {
                    let n: u32 = std::str::from_utf8(&k[4..]).unwrap().parse().unwrap();
                    seen.insert(n);
                });
                if cur == 0 {
                    break;
                }
                apply(&mut d, &ops[steps % ops.len()], &stable);
                steps += 1;
                prop_assert!(steps < 1_000_000, "scan does not terminate");
            }
            for s in &stable {
                prop_assert!(seen.contains(s), "missed {}", s);
            }
        }

        /// `scan_once` returns every element present for the whole scan
        /// exactly once and no element twice, whatever inserts, removes and
        /// resizes happen between the calls; and `ScanOrder::passed` tells
        /// exactly which elements the calls so far could have returned.
        #[test]
        fn scan_once_returns_each_element_once(
            initial in 0u16..2000,
            stable_every in 1u16..40,
            ops in proptest::collection::vec(proptest::collection::vec(op(), 0..40), 1..200),
            purge_at in 0usize..2000,
        ) {
            let mut d = Dict::new();
            for i in 0..initial {
                d.insert(&key(i as u32), ());
            }
            let order = d.scan_order();
            let stable: HashSet<u32> =
                (0..initial).filter(|i| i % stable_every == 0).map(|i| i as u32).collect();
            let mut seen = HashSet::new();
            let mut cur = 0;
            let mut steps = 0;
            loop {
                let before = cur;
                let mut fresh = Vec::new();
                cur = d.scan_once(cur, |k, _| fresh.push(k.to_vec()));
                for k in fresh {
                    prop_assert!(!order.passed(before, &k), "returned a passed key");
                    prop_assert!(cur == 0 || order.passed(cur, &k), "returned a key ahead");
                    prop_assert!(seen.insert(k), "returned twice");
                }
                if cur == 0 {
                    break;
                }
                // Every element the scan has passed that it did not return
                // was absent when its bucket was visited: not a stable one.
                for (k, _) in d.iter() {
                    if order.passed(cur, k) && !seen.contains(k) {
                        let n: u32 = std::str::from_utf8(&k[4..]).unwrap().parse().unwrap();
                        prop_assert!(!stable.contains(&n), "passed {} unreturned", n);
                    }
                }
                if steps == purge_at {
                    // Every element but the stable ones goes: a shrink.
                    d.retain(|k, _| {
                        let n: u32 = std::str::from_utf8(&k[4..]).unwrap().parse().unwrap();
                        stable.contains(&n)
                    });
                }
                apply(&mut d, &ops[steps % ops.len()], &stable);
                steps += 1;
                prop_assert!(steps < 1_000_000, "scan does not terminate");
            }
            for s in &stable {
                prop_assert!(seen.contains(&key(*s)), "missed {}", s);
            }
        }

        /// The dict agrees with a HashMap under random operations.
        #[test]
        fn agrees_with_hashmap(ops in proptest::collection::vec(op(), 0..3000)) {
            let mut d = Dict::new();
            let mut m = HashMap::new();
            for o in ops {
                match o {
                    Op::Insert(i) => prop_assert_eq!(d.insert(&key(i as u32), i), m.insert(i, i)),
                    Op::Remove(i) => prop_assert_eq!(d.remove(&key(i as u32)), m.remove(&i)),
                    Op::Rehash(n) => { d.rehash(n as usize); }
                }
                prop_assert_eq!(d.len(), m.len());
            }
            prop_assert!(chains_within_bound(&d));
            for (k, v) in &m {
                prop_assert_eq!(d.get(&key(*k as u32)), Some(v));
            }
            prop_assert_eq!(d.iter().count(), m.len());
        }
    }
}
