//! Key → hash slot → shard, exactly as Redis Cluster hashes keys: CRC16
//! (XMODEM) of the key, or of its first non-empty `{hash tag}`, mod 16384.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM): poly 0x1021, init 0, as Redis's `crc16.c`.
/// `T[0]` is the classic byte-at-a-time table; `T[k][x]` is the CRC of
/// byte `x` followed by `k` zero bytes, which lets [`crc16`] fold eight
/// bytes per step ("slicing-by-8", Intel's CRC paper by Kounavis and
/// Berry), about three times fewer instructions per key than one byte
/// per step. Every command routed on a multi-shard server hashes its keys.
const fn crc16_tables() -> [[u16; 256]; 8] {
    let mut t = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            j += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static CRC16: [[u16; 256]; 8] = crc16_tables();

pub fn crc16(data: &[u8]) -> u16 {
    let t = &CRC16;
    let mut crc: u16 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        crc = t[7][(c[0] ^ (crc >> 8) as u8) as usize]
            ^ t[6][(c[1] ^ crc as u8) as usize]
            ^ t[5][c[2] as usize]
            ^ t[4][c[3] as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ t[0][(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// The part of the key that is hashed: the bytes between the first `{` and
/// the next `}` when that is non-empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    // Most keys have no tag: rule that out eight bytes at a time.
    if !has_open_brace(key) {
        return key;
    }
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Whether `key` holds a `{`, testing a word at a time (the "has zero
/// byte" trick on the word XORed with `{` in every byte).
#[inline]
fn has_open_brace(key: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const BRACES: u64 = LO * b'{' as u64;
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ BRACES;
        if w.wrapping_sub(LO) & !w & HI != 0 {
            return true;
        }
    }
    chunks.remainder().contains(&b'{')
}

#[inline]
pub fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

/// Which shard owns each hash slot. It is data that every shard reads, not
/// a formula: the Cluster protocol reports it (CLUSTER SLOTS, SHARDS), and
/// a shard that hands a slot to another changes it (crate doc, "Moving
/// slots to the cores that have time"). An owner changes only while every
/// reactor is frozen with nothing in flight, and the thaw that follows
/// publishes it (release, then acquire before routing), so plain loads
/// read it.
pub struct SlotMap {
    n: usize,
    owner: [AtomicU16; SLOTS],
    /// How often each slot was routed to lately, for the choice of a slot
    /// to move: [`Heat::Routed`] counts keys routed while some shard is
    /// starved (one in eight), [`Heat::Spanning`] the keys of commands
    /// whose keys span shards (one such command in eight).
    heat: [[AtomicU32; SLOTS]; 2],
    /// Some counter of each kind is not 0: the samples that read or halve
    /// them skip the 16,384 counters otherwise.
    warm: [AtomicBool; 2],
    /// Slots whose owner is not the one a server starts with.
    moved: AtomicUsize,
    /// How many slots each shard owns.
    owned: Box<[AtomicUsize]>,
}

impl SlotMap {
    /// `n` shards in kevy's layout: slot `s` on shard `s % n`. Each
    /// shard's append-only log and snapshot hold that shard's keys, so the
    /// files on disk are in this layout.
    pub fn new(n: usize) -> Arc<SlotMap> {
        assert!((1..=u16::MAX as usize).contains(&n), "1 to 65535 shards");
        Arc::new(SlotMap {
            n,
            owner: std::array::from_fn(|s| AtomicU16::new(starting_owner(s, n) as u16)),
            heat: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU32::new(0))),
            warm: std::array::from_fn(|_| AtomicBool::new(false)),
            moved: AtomicUsize::new(0),
            owned: (0..n)
                .map(|i| AtomicUsize::new(SLOTS / n + usize::from(i < SLOTS % n)))
                .collect(),
        })
    }

    /// How many shards the slots are spread over.
    #[inline]
    pub fn shards(&self) -> usize {
        self.n
    }

    /// The shard owning hash slot `slot`.
    #[inline]
    pub fn owner(&self, slot: u16) -> usize {
        usize::from(self.owner[usize::from(slot) & (SLOTS - 1)].load(Ordering::Relaxed))
    }

    /// The shard owning `key` (one shard: no hashing).
    #[inline]
    pub fn shard_of(&self, key: &[u8]) -> usize {
        if self.n == 1 {
            0
        } else {
            self.owner(slot(key))
        }
    }

    /// Gives `slot` to shard `to`. Only the mover of a frozen server calls
    /// it (`reactor/migrate.rs`); the thaw publishes it.
    pub(crate) fn set_owner(&self, slot: u16, to: usize) {
        let s = usize::from(slot) & (SLOTS - 1);
        let was = self.owner[s].swap(to as u16, Ordering::Relaxed) as usize;
        self.owned[was].fetch_sub(1, Ordering::Relaxed);
        self.owned[to].fetch_add(1, Ordering::Relaxed);
        let home = starting_owner(s, self.n);
        if was == home && to != home {
            self.moved.fetch_add(1, Ordering::Relaxed);
        } else if was != home && to == home {
            self.moved.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The shard that owns `slot` when a server starts: its *home*, where
    /// a slot a starved shard handed over goes back to.
    #[inline]
    pub fn home(&self, slot: u16) -> usize {
        starting_owner(usize::from(slot) & (SLOTS - 1), self.n)
    }

    /// How many slots shard `shard` owns.
    pub fn owned(&self, shard: usize) -> usize {
        self.owned[shard].load(Ordering::Relaxed)
    }

    /// How many slots live elsewhere than where a server starts them.
    pub fn moved(&self) -> usize {
        self.moved.load(Ordering::Relaxed)
    }

    /// Counts one `kind` of use of `slot`: a plain load and store, so
    /// reactors counting the same slot at once may lose a count.
    #[inline]
    pub(crate) fn warm(&self, kind: Heat, slot: u16) {
        let h = &self.heat[kind as usize][usize::from(slot) & (SLOTS - 1)];
        h.store(h.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        let w = &self.warm[kind as usize];
        if !w.load(Ordering::Relaxed) {
            w.store(true, Ordering::Relaxed);
        }
    }

    /// Whether some slot has heat of `kind`.
    #[inline]
    pub fn is_warm(&self, kind: Heat) -> bool {
        self.warm[kind as usize].load(Ordering::Relaxed)
    }

    /// A slot's heat of `kind` (crate doc, "Which slot").
    pub fn heat(&self, kind: Heat, slot: u16) -> u32 {
        self.heat[kind as usize][usize::from(slot) & (SLOTS - 1)].load(Ordering::Relaxed)
    }

    /// Sets every heat counter to 0.
    pub(crate) fn clear_heat(&self) {
        for (w, heat) in self.warm.iter().zip(&self.heat) {
            w.store(false, Ordering::Relaxed);
            for h in heat {
                h.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Halves every heat counter: what a slot took lately weighs more than
    /// what it took long ago.
    pub(crate) fn cool(&self) {
        for (w, heat) in self.warm.iter().zip(&self.heat) {
            if !w.load(Ordering::Relaxed) {
                continue;
            }
            // Cleared first: a count that lands meanwhile sets it again.
            w.store(false, Ordering::Relaxed);
            let mut left = false;
            for h in heat {
                let v = h.load(Ordering::Relaxed);
                if v != 0 {
                    h.store(v / 2, Ordering::Relaxed);
                    left |= v > 1;
                }
            }
            if left {
                w.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// A set of hash slots: what one move hands over (a hot slot alone, or a
/// starved shard's slots in bulk; crate doc, "Moving slots to the cores
/// that have time").
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet(Box<[u64; SLOTS / 64]>);

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet(Box::new([0; SLOTS / 64]))
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl SlotSet {
    /// The set of `slot` alone.
    pub fn one(slot: u16) -> SlotSet {
        let mut s = SlotSet::default();
        s.insert(slot);
        s
    }

    pub fn insert(&mut self, slot: u16) {
        let s = usize::from(slot) & (SLOTS - 1);
        self.0[s / 64] |= 1 << (s % 64);
    }

    /// Takes every slot of `other` out of the set.
    pub fn remove_all(&mut self, other: &SlotSet) {
        for (w, o) in self.0.iter_mut().zip(other.0.iter()) {
            *w &= !o;
        }
    }

    /// Whether every slot of `other` is in the set.
    pub fn covers(&self, other: &SlotSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(w, o)| o & !w == 0)
    }

    #[inline]
    pub fn contains(&self, slot: u16) -> bool {
        let s = usize::from(slot) & (SLOTS - 1);
        self.0[s / 64] & (1 << (s % 64)) != 0
    }

    /// Whether `key`'s slot is in the set.
    #[inline]
    pub fn holds_key(&self, key: &[u8]) -> bool {
        self.contains(slot(key))
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The slots, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            (0..64)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| (i * 64 + b) as u16)
        })
    }
}

/// What a slot's heat counts (see [`SlotMap::heat`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heat {
    /// Keys routed while some shard is starved.
    Routed = 0,
    /// Keys of commands whose keys span shards.
    Spanning = 1,
}

/// The shard owning `key` among `nshards` in the layout a server starts
/// with ([`SlotMap::new`]): for tools and tests that pick keys by shard.
/// The server itself reads its [`SlotMap`].
#[inline]
pub fn shard_of(key: &[u8], nshards: usize) -> usize {
    if nshards == 1 {
        0
    } else {
        starting_owner(slot(key) as usize, nshards)
    }
}

/// Where slot `slot` lives among `n` shards when a server starts.
#[inline]
fn starting_owner(slot: usize, n: usize) -> usize {
    slot % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_a_server_starts_with_places_keys_as_shard_of_does() {
        for n in [1, 2, 3, 7] {
            let map = SlotMap::new(n);
            assert_eq!(map.shards(), n);
            for i in 0..2000 {
                let k = format!("key:{i}");
                assert_eq!(
                    map.shard_of(k.as_bytes()),
                    shard_of(k.as_bytes(), n),
                    "{k} of {n}"
                );
            }
        }
    }

    #[test]
    fn a_moved_slot_routes_to_its_new_owner_and_is_counted_until_it_returns() {
        let map = SlotMap::new(3);
        let k = b"foo";
        let s = slot(k);
        let home = map.shard_of(k);
        let to = (home + 1) % 3;
        // 16,384 slots over 3 shards: 5,462, 5,461, 5,461.
        let owned = |m: &SlotMap| [m.owned(0), m.owned(1), m.owned(2)];
        assert_eq!(owned(&map), [5462, 5461, 5461]);
        map.set_owner(s, to);
        assert_eq!(map.shard_of(k), to);
        assert_eq!(map.owner(s), to);
        assert_eq!(map.moved(), 1);
        assert_eq!(map.owned(home), (SLOTS + 2 - home) / 3 - 1);
        assert_eq!(map.owned(to), (SLOTS + 2 - to) / 3 + 1);
        // Moving it on does not count it twice; home again, it is not moved.
        map.set_owner(s, (home + 2) % 3);
        assert_eq!(map.moved(), 1);
        map.set_owner(s, home);
        assert_eq!(map.moved(), 0);
        assert_eq!(owned(&map), [5462, 5461, 5461]);
        assert_eq!(map.shard_of(k), shard_of(k, 3));
    }

    #[test]
    fn heat_counts_and_halves() {
        let map = SlotMap::new(2);
        for _ in 0..5 {
            map.warm(Heat::Routed, 7);
        }
        assert_eq!(map.heat(Heat::Routed, 7), 5);
        assert_eq!(map.heat(Heat::Spanning, 7), 0);
        assert!(!map.is_warm(Heat::Spanning));
        map.cool();
        assert_eq!(map.heat(Heat::Routed, 7), 2);
        assert_eq!(map.heat(Heat::Routed, 8), 0);
        assert!(map.is_warm(Heat::Routed));
        map.cool();
        map.cool();
        assert_eq!(map.heat(Heat::Routed, 7), 0);
        assert!(!map.is_warm(Heat::Routed), "nothing left to cool");
        map.warm(Heat::Spanning, 9);
        assert!(map.is_warm(Heat::Spanning));
        map.clear_heat();
        assert_eq!(map.heat(Heat::Spanning, 9), 0);
    }

    /// The byte-at-a-time definition the sliced tables must agree with.
    fn crc16_bytewise(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &b in data {
            crc ^= (b as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn sliced_crc_matches_bitwise_at_every_length() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..data.len() {
            for start in 0..3.min(data.len() - len + 1) {
                let d = &data[start..start + len];
                assert_eq!(crc16(d), crc16_bytewise(d), "len {len} start {start}");
            }
        }
    }

    #[test]
    fn brace_test_finds_a_brace_anywhere() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert!(!has_open_brace(&plain));
            for at in 0..len {
                let mut k = plain.clone();
                k[at] = b'{';
                assert!(has_open_brace(&k), "len {len} at {at}");
                // Bytes next to '{' in value must not look like it.
                k[at] = b'{' ^ 0x80;
                assert!(!has_open_brace(&k));
                k[at] = b'z';
                assert!(!has_open_brace(&k));
            }
        }
    }

    #[test]
    fn matches_redis_cluster_slots() {
        // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }
}
