//! The sorted set value: distinct members with f64 scores, ordered by score
//! then member bytes, in one of two encodings chosen, as in Redis, by size:
//!
//! - `listpack`: member and score entries alternate in one [`Listpack`] in
//!   (score, member) order; every operation is a linear scan. A score is
//!   stored in 1, 2 or 4 bytes when it is an integer that fits i8/i16/i32
//!   (the entry's length says which), else as the 8 bytes of the f64. Used
//!   while there are at most [`ZSET_MAX_LISTPACK_ENTRIES`] members of at
//!   most [`ZSET_MAX_LISTPACK_VALUE`] bytes.
//! - `skiplist` (Redis's name; the structure is a B+tree): members and scores
//!   in an arena of `u32` ids, an `IdTable` from member to id (O(1) ZSCORE,
//!   ZSCAN) and an `OsTree` ordered by (score, member) with subtree counts
//!   (O(log n) insert, remove, rank, select). See `zset_index.rs`.
//!   Conversion is one-way except for the results of union/inter/diff,
//!   which come out compact when small, as Redis's `*STORE` results do.
//!
//! Cost per member (10-byte members, integer scores): listpack 13 bytes
//! (Redis 7.0: 14); skiplist 32 bytes of arena entry (member inline up to 23
//! bytes, score; arenas grow by 1/4) + 11-21 of id table + 12-21 of tree:
//! 68 bytes measured with members added in score order, 76 in random order
//! (Redis 7.0: skiplist node ~56 + dictEntry 32 + bucket 8-16 + sds 16:
//! ~115 with jemalloc).
//!
//! Scores are never NaN: callers reject NaN input and every operation that
//! could produce one (INCR of inf by -inf) returns an error instead.

use crate::bytes::SmallBytes;
use crate::listpack::{self, Listpack};
use crate::sample::{random_with_count, Rng};
use crate::set::Set;
use crate::zset_index::{hash_bytes, push_grow, IdTable, Item, OsTree, Path};

/// A sorted set with more members than this is a skiplist
/// (`zset-max-listpack-entries`).
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
/// A member longer than this forces a skiplist (`zset-max-listpack-value`).
pub const ZSET_MAX_LISTPACK_VALUE: usize = 64;

/// The ZADD options that change what happens (CH only changes the count
/// the caller replies with, so it is not here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is less.
    pub lt: bool,
    /// Add the score to the current one (ZADD INCR, ZINCRBY).
    pub incr: bool,
}

/// What [`ZSet::add`] did, with the member's score afterwards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    /// The member is new (counts for ZADD's reply).
    Added(f64),
    /// The member's score changed (counts for ZADD CH).
    Updated(f64),
    /// The member existed with this very score.
    Unchanged(f64),
    /// NX, XX, GT or LT refused; ZADD INCR replies nil.
    Skipped,
}

/// Why a sorted-set update refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZsetError {
    /// "ERR resulting score is not a number (NaN)"
    NanScore,
}

/// A score interval, e.g. `(1 +inf` is `{min: 1, min_excl: true, max: inf}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_excl: bool,
    pub max_excl: bool,
}

impl ScoreRange {
    /// `[min, max]`.
    pub fn incl(min: f64, max: f64) -> Self {
        ScoreRange {
            min,
            max,
            min_excl: false,
            max_excl: false,
        }
    }

    #[inline]
    fn below_min(&self, s: f64) -> bool {
        if self.min_excl {
            s <= self.min
        } else {
            s < self.min
        }
    }

    #[inline]
    fn not_above_max(&self, s: f64) -> bool {
        if self.max_excl {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a ZRANGEBYLEX interval: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// `-`: before every member.
    NegInf,
    /// `+`: after every member.
    PosInf,
    /// `[member`
    Incl(&'a [u8]),
    /// `(member`
    Excl(&'a [u8]),
}

impl LexBound<'_> {
    /// `-`, `+` and `(member` leave their own value out.
    #[inline]
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

/// Orders two bounds as Redis's `sdscmplex` does: `-` before and `+` after
/// every string and equal to itself, members by their bytes.
fn bound_cmp(a: &LexBound<'_>, b: &LexBound<'_>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    use LexBound::*;
    match (a, b) {
        (NegInf, NegInf) | (PosInf, PosInf) => Equal,
        (NegInf, _) | (_, PosInf) => Less,
        (PosInf, _) | (_, NegInf) => Greater,
        (Incl(x) | Excl(x), Incl(y) | Excl(y)) => x.cmp(y),
    }
}

/// A member interval. Meaningful when all scores are equal, as Redis says;
/// with different scores the lex commands still do what Redis does (see
/// [`ZSet::range_by_lex`]), which is not "the members in the interval".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

impl LexRange<'_> {
    /// Whether the bounds leave no string in between (`[b [a`, `(a [a`,
    /// `+ -`): the first test of Redis's `zslIsInLexRange`.
    #[inline]
    fn is_empty(&self) -> bool {
        match bound_cmp(&self.min, &self.max) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            std::cmp::Ordering::Less => false,
        }
    }

    #[inline]
    fn below_min(&self, m: &[u8]) -> bool {
        match self.min {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m < x,
            LexBound::Excl(x) => m <= x,
        }
    }

    #[inline]
    fn not_above_max(&self, m: &[u8]) -> bool {
        match self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m <= x,
            LexBound::Excl(x) => m < x,
        }
    }
}

/// LIMIT offset count of ZRANGEBYSCORE / ZRANGEBYLEX: a negative offset
/// selects nothing, a negative count means all (Redis's behaviour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub offset: i64,
    pub count: i64,
}

/// How ZUNION / ZINTER combine the scores of a member found in several
/// inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregate {
    #[default]
    Sum,
    Min,
    Max,
}

/// One input of ZUNION / ZINTER / ZDIFF: a sorted set, a set (every member
/// scores 1) or a missing key (empty).
#[derive(Clone, Copy)]
pub enum ZSource<'a> {
    Zset(&'a ZSet),
    Set(&'a Set),
    Empty,
}

/// An input with its WEIGHTS factor (1 by default).
#[derive(Clone, Copy)]
pub struct ZInput<'a> {
    pub src: ZSource<'a>,
    pub weight: f64,
}

/// A sorted set value; see the module docs.
#[derive(Clone)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Pack(Listpack),
    Big(Box<Big>),
}

/// One member of the big encoding's arena; a free slot has an empty member.
#[derive(Clone, Default)]
struct Entry {
    member: SmallBytes,
    score: f64,
}

#[derive(Clone, Default)]
struct Big {
    entries: Vec<Entry>,
    free: Vec<u32>,
    index: IdTable,
    tree: OsTree,
    /// Heap bytes of members longer than `SmallBytes` keeps inline.
    member_heap: usize,
}

const _: () = assert!(std::mem::size_of::<ZSet>() == 24);
/// Values move between shards and into snapshots.
const _: () = {
    const fn clone_send<T: Clone + Send + Sync>() {}
    clone_send::<ZSet>()
};
const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

// ---- listpack encoding ------------------------------------------------------

/// Encodes a score in 1, 2 or 4 bytes when it is an integer in i8/i16/i32
/// range (not -0), else in 8.
fn encode_score(s: f64, buf: &mut [u8; 8]) -> &[u8] {
    let i = s as i32;
    if f64::from(i) == s && !(s == 0.0 && s.is_sign_negative()) {
        if let Ok(b) = i8::try_from(i) {
            buf[0] = b as u8;
            return &buf[..1];
        }
        if let Ok(h) = i16::try_from(i) {
            buf[..2].copy_from_slice(&h.to_le_bytes());
            return &buf[..2];
        }
        buf[..4].copy_from_slice(&i.to_le_bytes());
        return &buf[..4];
    }
    *buf = s.to_le_bytes();
    &buf[..]
}

#[inline]
fn decode_score(b: &[u8]) -> f64 {
    match *b {
        [x] => f64::from(x as i8),
        [x, y] => f64::from(i16::from_le_bytes([x, y])),
        [x, y, z, w] => f64::from(i32::from_le_bytes([x, y, z, w])),
        _ => f64::from_le_bytes(b.try_into().expect("8-byte score")),
    }
}

/// (member, score, offset of the pair, offset past it) of a listpack zset.
struct PackIter<'a> {
    it: listpack::Iter<'a>,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], f64, usize, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let off = self.it.offset();
        let m = self.it.next()?;
        let s = decode_score(self.it.next()?);
        Some((m, s, off, self.it.offset()))
    }
}

#[inline]
fn pack_iter(lp: &Listpack) -> PackIter<'_> {
    PackIter { it: lp.iter() }
}

fn pack_find(lp: &Listpack, member: &[u8]) -> Option<(f64, usize, usize)> {
    // Scores are decoded only for the match.
    let mut it = lp.iter();
    loop {
        let off = it.offset();
        let m = it.next()?;
        let s = it.next()?;
        if m == member {
            return Some((decode_score(s), off, it.offset()));
        }
    }
}

/// Inserts a pair absent from the listpack at its ordered position.
fn pack_insert(lp: &mut Listpack, member: &[u8], score: f64) {
    let at = pack_iter(lp)
        .find(|&(m, s, ..)| s > score || (s == score && m > member))
        .map_or(lp.end_offset(), |(_, _, off, _)| off);
    let mut buf = [0u8; 8];
    lp.replace(at, at, 0, &[member, encode_score(score, &mut buf)]);
}

// ---- skiplist (B+tree) encoding --------------------------------------------

impl Big {
    #[inline]
    fn member(&self, id: u32) -> &[u8] {
        self.entries[id as usize].member.as_bytes()
    }

    /// The id table slot of `member`.
    #[inline]
    fn slot(&self, member: &[u8]) -> Option<usize> {
        self.index
            .find(hash_bytes(member), |id| self.member(id) == member)
    }

    #[inline]
    fn id(&self, member: &[u8]) -> Option<u32> {
        self.slot(member).map(|s| self.index.id_at(s))
    }

    /// The path to where (score, member) is or would go.
    fn path(&self, score: f64, member: &[u8]) -> Path {
        self.tree
            .descend(|s, id| s < score || (s == score && self.member(id) < member))
    }

    /// The path to the present item (score, member).
    fn item_path(&self, score: f64, member: &[u8]) -> Path {
        self.tree
            .descend_item(|s, id| s < score || (s == score && self.member(id) < member))
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        let m = SmallBytes::new(member);
        self.member_heap += m.heap_bytes();
        let entry = Entry { member: m, score };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                let id = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&i| i != crate::zset_index::NIL)
                    .expect("sorted set over 2^32 members");
                push_grow(&mut self.entries, entry);
                id
            }
        };
        self.index.insert(hash_bytes(member), id);
        let p = self.path(score, member);
        self.tree.insert_at(&p, Item { score, id });
    }

    fn set_score(&mut self, id: u32, score: f64) {
        let e = &self.entries[id as usize];
        let p = self.item_path(e.score, e.member.as_bytes());
        self.tree.remove_at(&p);
        self.entries[id as usize].score = score;
        let p = self.path(score, self.member(id));
        self.tree.insert_at(&p, Item { score, id });
    }

    /// Unindexes and frees an id already removed from the tree.
    fn release(&mut self, id: u32) -> Entry {
        let e = std::mem::take(&mut self.entries[id as usize]);
        let slot = self
            .index
            .find(hash_bytes(&e.member), |x| x == id)
            .expect("member indexed");
        self.index.remove_at(slot);
        self.member_heap -= e.member.heap_bytes();
        self.free.push(id);
        e
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(id) = self.id(member) else {
            return false;
        };
        let p = self.item_path(self.entries[id as usize].score, member);
        self.tree.remove_at(&p);
        self.release(id);
        self.maybe_compact();
        true
    }

    fn remove_rank(&mut self, r: usize) -> Entry {
        let p = self.tree.descend_rank(r);
        let it = self.tree.remove_at(&p);
        self.release(it.id)
    }

    /// After mass removals, rebuilds densely so memory comes back.
    fn maybe_compact(&mut self) {
        let n = self.tree.len();
        if self.tree.is_sparse() || (self.entries.len() > 64 && self.free.len() > n * 2) {
            let mut fresh = Big {
                entries: Vec::with_capacity(n),
                index: IdTable::with_capacity(n),
                ..Big::default()
            };
            for it in self.tree.iter_from(0) {
                let e = &self.entries[it.id as usize];
                fresh.append_sorted(e.member.as_bytes(), e.score);
            }
            *self = fresh;
        }
    }

    /// Adds a member that sorts after every present one.
    fn append_sorted(&mut self, member: &[u8], score: f64) {
        let m = SmallBytes::new(member);
        self.member_heap += m.heap_bytes();
        let id = self.entries.len() as u32;
        push_grow(&mut self.entries, Entry { member: m, score });
        self.index.insert(hash_bytes(member), id);
        let p = self.tree.descend(|_, _| true);
        self.tree.insert_at(&p, Item { score, id });
    }

    fn heap_bytes(&self) -> usize {
        crate::malloc_size(std::mem::size_of::<Big>())
            + crate::malloc_size(self.entries.capacity() * std::mem::size_of::<Entry>())
            + crate::malloc_size(self.free.capacity() * 4)
            + self.index.heap_bytes()
            + self.tree.heap_bytes()
            + self.member_heap
    }
}

// ---- the value --------------------------------------------------------------

impl ZSet {
    /// An empty sorted set (a listpack that allocates nothing yet).
    pub fn new() -> Self {
        ZSet {
            repr: Repr::Pack(Listpack::new()),
        }
    }

    /// A sorted set of `pairs` (members distinct, any order), compact when
    /// small enough, as Redis stores a ZRANGESTORE / ZUNIONSTORE result.
    pub fn from_pairs(mut pairs: Vec<(Vec<u8>, f64)>) -> ZSet {
        pairs.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .expect("no NaN scores")
                .then_with(|| a.0.cmp(&b.0))
        });
        let small = pairs.len() <= ZSET_MAX_LISTPACK_ENTRIES
            && pairs
                .iter()
                .all(|(m, _)| m.len() <= ZSET_MAX_LISTPACK_VALUE);
        if small {
            let mut lp = Listpack::new();
            let mut buf = [0u8; 8];
            for (m, s) in &pairs {
                let at = lp.end_offset();
                lp.replace(at, at, 0, &[m, encode_score(*s, &mut buf)]);
            }
            ZSet {
                repr: Repr::Pack(lp),
            }
        } else {
            let mut big = Big {
                entries: Vec::with_capacity(pairs.len()),
                index: IdTable::with_capacity(pairs.len()),
                ..Big::default()
            };
            for (m, s) in &pairs {
                big.append_sorted(m, *s);
            }
            ZSet {
                repr: Repr::Big(Box::new(big)),
            }
        }
    }

    /// ZCARD.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(lp) => lp.len() / 2,
            Repr::Big(b) => b.tree.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING: "listpack" or "skiplist".
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    /// Estimated bytes this value holds, inline part included. O(1).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.repr {
                Repr::Pack(lp) => lp.heap_bytes(),
                Repr::Big(b) => b.heap_bytes(),
            }
    }

    /// ZSCORE / ZMSCORE.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(lp) => pack_find(lp, member).map(|(s, ..)| s),
            Repr::Big(b) => b.id(member).map(|id| b.entries[id as usize].score),
        }
    }

    /// ZADD of one member with Redis's NX / XX / GT / LT / INCR rules (the
    /// caller has rejected the invalid combinations and a NaN `score`).
    pub fn add(
        &mut self,
        member: &[u8],
        score: f64,
        flags: AddFlags,
    ) -> Result<AddOutcome, ZsetError> {
        match self.score(member) {
            Some(cur) => {
                if flags.nx {
                    return Ok(AddOutcome::Skipped);
                }
                let new = if flags.incr { cur + score } else { score };
                if new.is_nan() {
                    return Err(ZsetError::NanScore);
                }
                if (flags.lt && new >= cur) || (flags.gt && new <= cur) {
                    return Ok(AddOutcome::Skipped);
                }
                if new == cur {
                    return Ok(AddOutcome::Unchanged(cur));
                }
                self.update(member, new);
                Ok(AddOutcome::Updated(new))
            }
            None => {
                if flags.xx {
                    return Ok(AddOutcome::Skipped);
                }
                self.insert_new(member, score);
                Ok(AddOutcome::Added(score))
            }
        }
    }

    /// ZINCRBY: adds `delta` to the member's score (0 when absent).
    pub fn incr_by(&mut self, member: &[u8], delta: f64) -> Result<f64, ZsetError> {
        match self.add(
            member,
            delta,
            AddFlags {
                incr: true,
                ..AddFlags::default()
            },
        )? {
            AddOutcome::Added(s) | AddOutcome::Updated(s) | AddOutcome::Unchanged(s) => Ok(s),
            AddOutcome::Skipped => unreachable!("no condition flags"),
        }
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        if let Repr::Pack(lp) = &mut self.repr {
            if lp.len() / 2 < ZSET_MAX_LISTPACK_ENTRIES && member.len() <= ZSET_MAX_LISTPACK_VALUE {
                pack_insert(lp, member, score);
                return;
            }
            self.convert();
        }
        let Repr::Big(b) = &mut self.repr else {
            unreachable!()
        };
        b.insert_new(member, score);
    }

    /// Moves a present member to a new score.
    fn update(&mut self, member: &[u8], score: f64) {
        match &mut self.repr {
            Repr::Pack(lp) => {
                let (_, s, e) = pack_find(lp, member).expect("present member");
                lp.replace(s, e, 2, &[]);
                pack_insert(lp, member, score);
            }
            Repr::Big(b) => {
                let id = b.id(member).expect("present member");
                b.set_score(id, score);
            }
        }
    }

    /// Listpack -> skiplist.
    fn convert(&mut self) {
        if let Repr::Pack(lp) = &self.repr {
            let n = lp.len() / 2;
            let mut big = Big {
                entries: Vec::with_capacity(n + 1),
                index: IdTable::with_capacity(n + 1),
                ..Big::default()
            };
            for (m, s, ..) in pack_iter(lp) {
                big.append_sorted(m, s);
            }
            self.repr = Repr::Big(Box::new(big));
        }
    }

    /// ZREM of one member: true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(lp) => match pack_find(lp, member) {
                Some((_, s, e)) => {
                    lp.replace(s, e, 2, &[]);
                    true
                }
                None => false,
            },
            Repr::Big(b) => b.remove(member),
        }
    }

    /// Number of leading members (in order) for which `before` holds; the
    /// predicate must hold for a prefix.
    fn count_before(&self, mut before: impl FnMut(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(lp) => pack_iter(lp).take_while(|&(m, s, ..)| before(s, m)).count(),
            Repr::Big(b) => b.tree.count_before(|s, id| before(s, b.member(id))),
        }
    }

    /// ZRANK (`rev` false) / ZREVRANK (`rev` true).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let score = self.score(member)?;
        let r = self.count_before(|s, m| s < score || (s == score && m < member));
        Some(if rev { self.len() - 1 - r } else { r })
    }

    /// Ranks `[lo, hi)` of the members with scores in `range`.
    fn score_ranks(&self, range: &ScoreRange) -> (usize, usize) {
        let lo = self.count_before(|s, _| range.below_min(s));
        let hi = self.count_before(|s, _| range.not_above_max(s));
        (lo, hi.max(lo))
    }

    // ---- member (lex) ranges ------------------------------------------------
    //
    // Redis walks the members in score order and compares only their bytes:
    // a walk starts at the first member not below `min` (the last not above
    // `max` when reversed) and goes on while members stay on the near side
    // of the other bound. With equal scores that is exactly the members in
    // the interval. With different scores the order of the bytes is not the
    // walk's order, and the result is whatever that walk gives, e.g. after
    // `ZADD z 1 b 2 a`, `ZRANGEBYLEX z [b +` is empty (the last member, `a`,
    // is below `[b`, so nothing can be in range) while `ZRANGEBYLEX z [a +`
    // is `b a`. These functions reproduce the walks:
    //
    // - listpack (Redis's `zzl*LexRange`): linear scans from either end,
    //   so the result is fully determined by the members and scores, and
    //   kevy's is the same as Redis's.
    // - skiplist (`zsl*LexRange`): Redis finds the start by descending its
    //   skiplist with the comparison, which with different scores stops at
    //   *some* member that is not below `min` right after one that is (for
    //   the reverse walk, some member not above `max` right before one
    //   above it), which one depending on the random node levels: the same
    //   commands on the same data can reply differently in two Redis
    //   processes, and no kevy reply can match all of them. kevy descends
    //   its B+tree with the same comparison, which also stops at such a
    //   boundary (one fixed by the tree's shape), and keeps the rest of
    //   Redis's skiplist algorithm: ZLEXCOUNT as the difference of the
    //   ranks of the two ends, and ZREMRANGEBYLEX without the check of the
    //   first and last members that the other commands make. Where the
    //   boundary is unique (equal scores, scores in member order) the
    //   replies are Redis's.

    /// Whether Redis's walks can find anything (`zzlIsInLexRange` /
    /// `zslIsInLexRange`): the bounds leave room, the last member is not
    /// below `min` and the first is not above `max`.
    fn lex_reachable(&self, range: &LexRange<'_>) -> bool {
        let len = self.len();
        len > 0
            && !range.is_empty()
            && !range.below_min(self.at_rank(len - 1).0)
            && range.not_above_max(self.at_rank(0).0)
    }

    /// Where a forward walk starts (`zzlFirstInLexRange` /
    /// `zslFirstInLexRange`): the first member not below `min` if it is not
    /// above `max`.
    fn lex_first(&self, range: &LexRange<'_>) -> Option<usize> {
        if !self.lex_reachable(range) {
            return None;
        }
        // A listpack counts from the front; a tree descends.
        let r = self.count_before(|_, m| range.below_min(m));
        (r < self.len() && range.not_above_max(self.at_rank(r).0)).then_some(r)
    }

    /// Where a reverse walk starts (`zzlLastInLexRange` /
    /// `zslLastInLexRange`): the last member not above `max` if it is not
    /// below `min`.
    fn lex_last(&self, range: &LexRange<'_>) -> Option<usize> {
        if !self.lex_reachable(range) {
            return None;
        }
        let r = match &self.repr {
            // The listpack walk comes from the back.
            Repr::Pack(lp) => pack_iter(lp)
                .map(|(m, ..)| m)
                .collect::<Vec<_>>()
                .iter()
                .rposition(|m| range.not_above_max(m))?,
            // The skiplist descends from the front, as the tree does.
            Repr::Big(b) => b
                .tree
                .count_before(|_, id| range.not_above_max(b.member(id)))
                .checked_sub(1)?,
        };
        (!range.below_min(self.at_rank(r).0)).then_some(r)
    }

    /// How many members from rank `from` on (down to rank 0 when `rev`),
    /// at most `max`, pass `keep` before the first that does not.
    fn count_while(
        &self,
        from: usize,
        rev: bool,
        max: usize,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> usize {
        match &self.repr {
            Repr::Pack(lp) => {
                let members: Vec<&[u8]> = pack_iter(lp).map(|(m, ..)| m).collect();
                if rev {
                    members[..=from]
                        .iter()
                        .rev()
                        .take(max)
                        .take_while(|m| keep(m))
                        .count()
                } else {
                    members[from..]
                        .iter()
                        .take(max)
                        .take_while(|m| keep(m))
                        .count()
                }
            }
            Repr::Big(b) => {
                let mut keep = |id| keep(b.member(id));
                if rev {
                    b.tree
                        .iter_rev_from(from)
                        .take(max)
                        .take_while(|it| keep(it.id))
                        .count()
                } else {
                    b.tree
                        .iter_from(from)
                        .take(max)
                        .take_while(|it| keep(it.id))
                        .count()
                }
            }
        }
    }

    /// The ranks `[lo, hi)` ZRANGEBYLEX (ZREVRANGEBYLEX with `rev`) replies
    /// with: from the walk's start, `offset` members are skipped without
    /// looking at them, then up to `count` are taken while they stay not
    /// above `max` (not below `min` when reversed). A negative offset skips
    /// past the end, a negative count takes all (Redis's loops).
    fn lex_window(&self, range: &LexRange<'_>, rev: bool, limit: Option<Limit>) -> (usize, usize) {
        let Limit { offset, count } = limit.unwrap_or(Limit {
            offset: 0,
            count: -1,
        });
        let start = if rev {
            self.lex_last(range)
        } else {
            self.lex_first(range)
        };
        let (Some(start), Ok(offset)) = (start, usize::try_from(offset)) else {
            return (0, 0);
        };
        let max = usize::try_from(count).unwrap_or(usize::MAX);
        if rev {
            let Some(top) = start.checked_sub(offset) else {
                return (0, 0);
            };
            let n = self.count_while(top, true, max, |m| !range.below_min(m));
            (top + 1 - n, top + 1)
        } else {
            let lo = start.saturating_add(offset);
            if lo >= self.len() {
                return (0, 0);
            }
            let n = self.count_while(lo, false, max, |m| range.not_above_max(m));
            (lo, lo + n)
        }
    }

    /// ZCOUNT.
    pub fn count_in_score(&self, range: &ScoreRange) -> usize {
        let (lo, hi) = self.score_ranks(range);
        hi - lo
    }

    /// ZLEXCOUNT. A listpack counts the walk's members; a skiplist, as in
    /// Redis, subtracts the ranks of the two ends, which with different
    /// scores can cross and give a negative count (see the notes above
    /// `lex_reachable`).
    pub fn count_in_lex(&self, range: &LexRange<'_>) -> i64 {
        let Some(first) = self.lex_first(range) else {
            return 0;
        };
        match &self.repr {
            Repr::Pack(_) => {
                self.count_while(first, false, usize::MAX, |m| range.not_above_max(m)) as i64
            }
            Repr::Big(_) => {
                let end = self.lex_last(range).map_or(self.len(), |last| last + 1);
                end as i64 - first as i64
            }
        }
    }

    /// Calls `f` on the members of ranks `[lo, hi)`, from `hi - 1` down when
    /// `rev`.
    fn visit<'a>(&'a self, lo: usize, hi: usize, rev: bool, mut f: impl FnMut(&'a [u8], f64)) {
        if lo >= hi {
            return;
        }
        match &self.repr {
            Repr::Pack(lp) => {
                if rev {
                    let pairs: Vec<(&[u8], f64)> = pack_iter(lp)
                        .skip(lo)
                        .take(hi - lo)
                        .map(|(m, s, ..)| (m, s))
                        .collect();
                    pairs.into_iter().rev().for_each(|(m, s)| f(m, s));
                } else {
                    pack_iter(lp)
                        .skip(lo)
                        .take(hi - lo)
                        .for_each(|(m, s, ..)| f(m, s));
                }
            }
            Repr::Big(b) => {
                if rev {
                    b.tree
                        .iter_rev_from(hi - 1)
                        .take(hi - lo)
                        .for_each(|it| f(b.member(it.id), it.score));
                } else {
                    b.tree
                        .iter_from(lo)
                        .take(hi - lo)
                        .for_each(|it| f(b.member(it.id), it.score));
                }
            }
        }
    }

    /// Normalizes ZRANGE-style indices (negative from the end) to ranks
    /// `[lo, hi)`; with `rev` the indices count from the highest score.
    fn index_ranks(&self, start: i64, stop: i64, rev: bool) -> (usize, usize) {
        let len = self.len();
        match crate::list::normalize_range(start, stop, len) {
            None => (0, 0),
            Some((s, e)) if rev => (len - 1 - e, len - s),
            Some((s, e)) => (s, e + 1),
        }
    }

    /// ZRANGE by index (and ZREVRANGE with `rev`): Redis's index rules.
    pub fn range_by_rank(&self, start: i64, stop: i64, rev: bool, f: impl FnMut(&[u8], f64)) {
        let (lo, hi) = self.index_ranks(start, stop, rev);
        self.visit(lo, hi, rev, f);
    }

    /// ZRANGE BYSCORE (ZRANGEBYSCORE, and ZREVRANGEBYSCORE with `rev`): the
    /// members in `range`, highest first when `rev`, windowed by `limit`.
    /// The members handed to `f` are borrowed from the set.
    pub fn range_by_score<'a>(
        &'a self,
        range: &ScoreRange,
        rev: bool,
        limit: Option<Limit>,
        f: impl FnMut(&'a [u8], f64),
    ) {
        let (lo, hi) = self.score_ranks(range);
        let (lo, hi) = window(lo, hi, rev, limit);
        self.visit(lo, hi, rev, f);
    }

    /// The members with scores in `[min, max)`, in ascending order, handed
    /// to `f` (borrowed from the set) until it returns false: the first is
    /// found by its rank, the rest by walking on, so the window's end is
    /// never looked up (a geo search reads nine such windows).
    pub fn scan_scores<'a>(&'a self, min: f64, max: f64, mut f: impl FnMut(&'a [u8], f64) -> bool) {
        match &self.repr {
            Repr::Pack(lp) => {
                for (m, s, ..) in pack_iter(lp).skip_while(|&(_, s, ..)| s < min) {
                    if s >= max || !f(m, s) {
                        return;
                    }
                }
            }
            Repr::Big(b) => {
                let lo = b.tree.count_before(|s, _| s < min);
                if lo >= b.tree.len() {
                    return;
                }
                for it in b.tree.iter_from(lo) {
                    if it.score >= max || !f(b.member(it.id), it.score) {
                        return;
                    }
                }
            }
        }
    }

    /// ZRANGE BYLEX (ZRANGEBYLEX, and ZREVRANGEBYLEX with `rev`): with
    /// equal scores the members in `range`, highest first when `rev`,
    /// windowed by `limit`; with different scores what Redis's walk gives
    /// (see the notes above `lex_reachable`).
    pub fn range_by_lex(
        &self,
        range: &LexRange<'_>,
        rev: bool,
        limit: Option<Limit>,
        f: impl FnMut(&[u8], f64),
    ) {
        let (lo, hi) = self.lex_window(range, rev, limit);
        self.visit(lo, hi, rev, f);
    }

    /// How many members [`range_by_lex`](Self::range_by_lex) visits.
    pub fn range_by_lex_len(&self, range: &LexRange<'_>, rev: bool, limit: Option<Limit>) -> usize {
        let (lo, hi) = self.lex_window(range, rev, limit);
        hi - lo
    }

    /// Members in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::Pack(lp) => IterInner::Pack(pack_iter(lp)),
                Repr::Big(b) => IterInner::Big(b, b.tree.iter_from(0)),
            },
        }
    }

    /// Removes ranks `[lo, hi)`, handing each removed pair to `f` in order.
    fn remove_ranks(&mut self, lo: usize, hi: usize, mut f: impl FnMut(&[u8], f64)) -> usize {
        if lo >= hi {
            return 0;
        }
        match &mut self.repr {
            Repr::Pack(lp) => {
                let (mut from, mut to) = (None, 0);
                for (m, s, off, end) in pack_iter(lp).skip(lo).take(hi - lo) {
                    from.get_or_insert(off);
                    to = end;
                    f(m, s);
                }
                lp.replace(from.expect("rank in range"), to, 2 * (hi - lo), &[]);
            }
            Repr::Big(b) => {
                for _ in lo..hi {
                    let e = b.remove_rank(lo);
                    f(e.member.as_bytes(), e.score);
                }
                b.maybe_compact();
            }
        }
        hi - lo
    }

    /// ZPOPMIN with a count: up to `count` lowest members, lowest first.
    pub fn pop_min(&mut self, count: usize) -> Vec<(Vec<u8>, f64)> {
        let n = count.min(self.len());
        let mut out = Vec::with_capacity(n);
        self.remove_ranks(0, n, |m, s| out.push((m.to_vec(), s)));
        out
    }

    /// ZPOPMAX with a count: up to `count` highest members, highest first.
    pub fn pop_max(&mut self, count: usize) -> Vec<(Vec<u8>, f64)> {
        let len = self.len();
        let n = count.min(len);
        let mut out = Vec::with_capacity(n);
        self.remove_ranks(len - n, len, |m, s| out.push((m.to_vec(), s)));
        out.reverse();
        out
    }

    /// ZREMRANGEBYRANK: the number of members removed.
    pub fn remove_range_by_rank(&mut self, start: i64, stop: i64) -> usize {
        let (lo, hi) = self.index_ranks(start, stop, false);
        self.remove_ranks(lo, hi, |_, _| {})
    }

    /// ZREMRANGEBYSCORE.
    pub fn remove_range_by_score(&mut self, range: &ScoreRange) -> usize {
        let (lo, hi) = self.score_ranks(range);
        self.remove_ranks(lo, hi, |_, _| {})
    }

    /// ZREMRANGEBYLEX: removes the members of a forward walk (see the notes
    /// above `lex_reachable`). Redis's skiplist
    /// version starts where its descent stops without first checking the
    /// first and last members, and so does the tree.
    pub fn remove_range_by_lex(&mut self, range: &LexRange<'_>) -> usize {
        let first = match &self.repr {
            Repr::Pack(_) => self.lex_first(range),
            Repr::Big(_) => Some(self.count_before(|_, m| range.below_min(m))),
        };
        let Some(lo) = first.filter(|&r| r < self.len()) else {
            return 0;
        };
        let n = self.count_while(lo, false, usize::MAX, |m| range.not_above_max(m));
        self.remove_ranks(lo, lo + n, |_, _| {})
    }

    /// The member of rank `r` (< len).
    fn at_rank(&self, r: usize) -> (&[u8], f64) {
        match &self.repr {
            Repr::Pack(lp) => {
                let (m, voff) = lp.entry_at(lp.offset_of(2 * r));
                (m, decode_score(lp.entry_at(voff).0))
            }
            Repr::Big(b) => {
                let it = b.tree.get(r);
                (b.member(it.id), it.score)
            }
        }
    }

    /// ZRANDMEMBER without a count; uniform.
    pub fn random(&self, rng: &mut Rng) -> Option<(&[u8], f64)> {
        (!self.is_empty()).then(|| self.at_rank(rng.below(self.len())))
    }

    /// ZRANDMEMBER with a count, calling `f` once per reply item: `|count|`
    /// independent picks when negative, otherwise `min(count, len)` distinct
    /// members in score order.
    pub fn random_with_count(&self, count: i64, rng: &mut Rng, mut f: impl FnMut(&[u8], f64)) {
        match &self.repr {
            Repr::Pack(lp) => {
                let pairs: Vec<(&[u8], f64)> = pack_iter(lp).map(|(m, s, ..)| (m, s)).collect();
                random_with_count(pairs.len(), count, rng, |i| f(pairs[i].0, pairs[i].1));
            }
            Repr::Big(_) => random_with_count(self.len(), count, rng, |i| {
                let (m, s) = self.at_rank(i);
                f(m, s);
            }),
        }
    }

    /// ZSCAN step: calls `f` on about `count` members from `cursor` on and
    /// returns the next cursor (0: done). A listpack returns everything at
    /// once with cursor 0, as Redis does.
    pub fn scan(&self, mut cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Pack(lp) => {
                pack_iter(lp).for_each(|(m, s, ..)| f(m, s));
                0
            }
            Repr::Big(b) => {
                let count = count.max(1);
                let mut emitted = 0;
                let mut budget = count.saturating_mul(10);
                loop {
                    cursor = b.index.scan_bucket(cursor, |id| {
                        emitted += 1;
                        let e = &b.entries[id as usize];
                        f(e.member.as_bytes(), e.score);
                    });
                    budget -= 1;
                    if cursor == 0 || emitted >= count || budget == 0 {
                        return cursor;
                    }
                }
            }
        }
    }

    /// ZUNION / ZUNIONSTORE: every member of any input, its weighted scores
    /// combined by `agg`. Inputs are combined smallest first, as Redis does
    /// (which decides where inf and -inf meet).
    pub fn union(inputs: &[ZInput<'_>], agg: Aggregate) -> ZSet {
        let mut order: Vec<&ZInput<'_>> = inputs.iter().collect();
        order.sort_by_key(|i| source_len(&i.src));
        let mut acc: ahash::AHashMap<Vec<u8>, f64> = ahash::AHashMap::new();
        for inp in order {
            source_for_each(&inp.src, |m, s| {
                let v = weighted(s, inp.weight);
                match acc.get_mut(m) {
                    Some(t) => aggregate(t, v, agg),
                    None => {
                        acc.insert(m.to_vec(), v);
                    }
                }
            });
        }
        ZSet::from_pairs(acc.into_iter().collect())
    }

    /// ZINTER / ZINTERSTORE: the members in every input, weighted scores
    /// combined by `agg`.
    pub fn inter(inputs: &[ZInput<'_>], agg: Aggregate) -> ZSet {
        let mut out = Vec::new();
        Self::inter_walk(inputs, agg, usize::MAX, |m, s| out.push((m.to_vec(), s)));
        ZSet::from_pairs(out)
    }

    /// ZINTERCARD: how many members are in every input, counting stops at
    /// `limit` (0: no limit).
    pub fn inter_card(inputs: &[ZInput<'_>], limit: usize) -> usize {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut n = 0;
        Self::inter_walk(inputs, Aggregate::Sum, limit, |_, _| n += 1);
        n
    }

    fn inter_walk(
        inputs: &[ZInput<'_>],
        agg: Aggregate,
        limit: usize,
        mut f: impl FnMut(&[u8], f64),
    ) {
        let mut order: Vec<&ZInput<'_>> = inputs.iter().collect();
        order.sort_by_key(|i| source_len(&i.src));
        let Some((first, rest)) = order.split_first() else {
            return;
        };
        let mut found = 0;
        source_for_each(&first.src, |m, s| {
            if found >= limit {
                return;
            }
            let mut score = weighted(s, first.weight);
            for other in rest {
                match source_score(&other.src, m) {
                    Some(x) => aggregate(&mut score, weighted(x, other.weight), agg),
                    None => return,
                }
            }
            found += 1;
            f(m, score);
        });
    }

    /// ZDIFF / ZDIFFSTORE: members of the first input in none of the others,
    /// with their first-input scores (weights do not apply).
    pub fn diff(inputs: &[ZInput<'_>]) -> ZSet {
        let Some((first, rest)) = inputs.split_first() else {
            return ZSet::new();
        };
        let mut out = Vec::new();
        source_for_each(&first.src, |m, s| {
            if rest.iter().all(|o| source_score(&o.src, m).is_none()) {
                out.push((m.to_vec(), s));
            }
        });
        ZSet::from_pairs(out)
    }
}

/// Applies LIMIT to the ranks `[lo, hi)`; with `rev` the offset counts from
/// `hi` down.
fn window(lo: usize, hi: usize, rev: bool, limit: Option<Limit>) -> (usize, usize) {
    let Some(Limit { offset, count }) = limit else {
        return (lo, hi);
    };
    let n = (hi - lo) as u64;
    if offset < 0 || offset as u64 >= n {
        return (lo, lo);
    }
    let avail = n - offset as u64;
    let take = if count < 0 {
        avail
    } else {
        avail.min(count as u64)
    } as usize;
    let off = offset as usize;
    if rev {
        (hi - off - take, hi - off)
    } else {
        (lo + off, lo + off + take)
    }
}

/// A score times its weight; 0 * inf (NaN) counts as 0, as in Redis.
#[inline]
fn weighted(s: f64, w: f64) -> f64 {
    let v = s * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// Folds `v` into `t`; inf + -inf (NaN) becomes 0, as in Redis.
#[inline]
fn aggregate(t: &mut f64, v: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *t += v;
            if t.is_nan() {
                *t = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *t {
                *t = v;
            }
        }
        Aggregate::Max => {
            if v > *t {
                *t = v;
            }
        }
    }
}

fn source_len(s: &ZSource<'_>) -> usize {
    match s {
        ZSource::Zset(z) => z.len(),
        ZSource::Set(s) => s.len(),
        ZSource::Empty => 0,
    }
}

fn source_for_each(s: &ZSource<'_>, mut f: impl FnMut(&[u8], f64)) {
    match s {
        ZSource::Zset(z) => z.iter().for_each(|(m, sc)| f(m, sc)),
        ZSource::Set(s) => s.for_each(|m| f(m, 1.0)),
        ZSource::Empty => {}
    }
}

fn source_score(s: &ZSource<'_>, m: &[u8]) -> Option<f64> {
    match s {
        ZSource::Zset(z) => z.score(m),
        ZSource::Set(s) => s.contains(m).then_some(1.0),
        ZSource::Empty => None,
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

/// Iterator over (member, score) in ascending order.
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Pack(PackIter<'a>),
    Big(&'a Big, crate::zset_index::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Pack(it) => it.next().map(|(m, s, ..)| (m, s)),
            IterInner::Big(b, it) => it.next().map(|i| (b.member(i.id), i.score)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_scores_walks_the_window_and_stops_when_told() {
        for n in [10usize, 1000] {
            let mut z = ZSet::new();
            for i in 0..n {
                z.add(
                    format!("m{i}").as_bytes(),
                    (i % 97) as f64,
                    AddFlags::default(),
                )
                .unwrap();
            }
            for (min, max) in [
                (0.0, 1.0),
                (3.0, 50.5),
                (96.0, 200.0),
                (-5.0, 0.0),
                (10.0, 10.0),
            ] {
                let mut want = Vec::new();
                let r = ScoreRange {
                    min,
                    max,
                    min_excl: false,
                    max_excl: true,
                };
                z.range_by_score(&r, false, None, |m, s| want.push((m.to_vec(), s)));
                let mut got = Vec::new();
                z.scan_scores(min, max, |m, s| {
                    got.push((m.to_vec(), s));
                    true
                });
                assert_eq!(got, want, "n {n} [{min}, {max})");
                let mut first = 0;
                z.scan_scores(min, max, |_, _| {
                    first += 1;
                    false
                });
                assert_eq!(first, want.len().min(1));
            }
        }
    }
    use crate::sample::Rng;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap, HashSet};

    type Model = BTreeMap<Vec<u8>, f64>;

    fn sorted(m: &Model) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    fn all(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    fn collect(f: impl FnOnce(&mut dyn FnMut(&[u8], f64))) -> Vec<(Vec<u8>, f64)> {
        let mut out = Vec::new();
        f(&mut |m, s| out.push((m.to_vec(), s)));
        out
    }

    fn z(pairs: &[(&str, f64)]) -> ZSet {
        let mut z = ZSet::new();
        for (m, s) in pairs {
            z.add(m.as_bytes(), *s, AddFlags::default()).unwrap();
        }
        z
    }

    fn names(v: &[(Vec<u8>, f64)]) -> Vec<String> {
        v.iter()
            .map(|(m, _)| String::from_utf8(m.clone()).unwrap())
            .collect()
    }

    #[test]
    fn score_encoding_round_trips() {
        let mut buf = [0u8; 8];
        for (s, len) in [
            (0.0, 1),
            (-128.0, 1),
            (127.0, 1),
            (128.0, 2),
            (-40000.0, 4),
            (3e9, 8),
            (0.5, 8),
            (-0.0, 8),
            (f64::INFINITY, 8),
            (f64::NEG_INFINITY, 8),
            (2147483647.0, 4),
            (-2147483648.0, 4),
        ] {
            let b = encode_score(s, &mut buf);
            assert_eq!(b.len(), len, "{s}");
            let d = decode_score(b);
            assert_eq!(d, s);
            assert_eq!(d.is_sign_negative(), s.is_sign_negative());
        }
    }

    #[test]
    fn zadd_flags() {
        let mut z = ZSet::new();
        let f = AddFlags::default();
        assert_eq!(z.add(b"a", 1.0, f), Ok(AddOutcome::Added(1.0)));
        assert_eq!(z.add(b"a", 1.0, f), Ok(AddOutcome::Unchanged(1.0)));
        assert_eq!(z.add(b"a", 2.0, f), Ok(AddOutcome::Updated(2.0)));
        let nx = AddFlags { nx: true, ..f };
        assert_eq!(z.add(b"a", 5.0, nx), Ok(AddOutcome::Skipped));
        assert_eq!(z.add(b"b", 5.0, nx), Ok(AddOutcome::Added(5.0)));
        let xx = AddFlags { xx: true, ..f };
        assert_eq!(z.add(b"c", 5.0, xx), Ok(AddOutcome::Skipped));
        assert_eq!(z.add(b"a", 3.0, xx), Ok(AddOutcome::Updated(3.0)));
        let gt = AddFlags { gt: true, ..f };
        assert_eq!(z.add(b"a", 1.0, gt), Ok(AddOutcome::Skipped));
        assert_eq!(z.add(b"a", 4.0, gt), Ok(AddOutcome::Updated(4.0)));
        assert_eq!(
            z.add(b"new", -9.0, gt),
            Ok(AddOutcome::Added(-9.0)),
            "GT never blocks adding"
        );
        let lt_incr = AddFlags {
            lt: true,
            incr: true,
            ..f
        };
        assert_eq!(z.add(b"a", 1.0, lt_incr), Ok(AddOutcome::Skipped));
        assert_eq!(z.add(b"a", -1.0, lt_incr), Ok(AddOutcome::Updated(3.0)));
        assert_eq!(z.incr_by(b"a", 0.5), Ok(3.5));
        assert_eq!(z.incr_by(b"fresh", 2.0), Ok(2.0));
        z.add(b"inf", f64::INFINITY, f).unwrap();
        assert_eq!(
            z.incr_by(b"inf", f64::NEG_INFINITY),
            Err(ZsetError::NanScore)
        );
        assert_eq!(z.score(b"inf"), Some(f64::INFINITY));
        assert_eq!(z.add(b"zero", 0.0, f), Ok(AddOutcome::Added(0.0)));
        assert_eq!(
            z.add(b"zero", -0.0, f),
            Ok(AddOutcome::Unchanged(0.0)),
            "-0 == 0 as in C"
        );
    }

    #[test]
    fn ranges_and_ranks() {
        for big in [false, true] {
            let mut zz = z(&[
                ("a", 1.0),
                ("b", 2.0),
                ("c", 2.0),
                ("d", 3.0),
                ("e", f64::INFINITY),
                ("m", f64::NEG_INFINITY),
            ]);
            if big {
                zz.convert();
            }
            let zz = zz;
            assert_eq!(
                zz.encoding_name(),
                if big { "skiplist" } else { "listpack" }
            );
            assert_eq!(names(&all(&zz)), ["m", "a", "b", "c", "d", "e"]);
            assert_eq!(zz.rank(b"c", false), Some(3));
            assert_eq!(zz.rank(b"c", true), Some(2));
            assert_eq!(zz.rank(b"zz", false), None);
            let r = |s, e, rev| names(&collect(|f| zz.range_by_rank(s, e, rev, f)));
            assert_eq!(r(0, 1, false), ["m", "a"]);
            assert_eq!(r(0, 1, true), ["e", "d"]);
            assert_eq!(r(-2, -1, false), ["d", "e"]);
            assert_eq!(r(2, 100, true), ["c", "b", "a", "m"]);
            assert_eq!(r(4, 2, false), Vec::<String>::new());
            let sr = ScoreRange {
                min: 1.0,
                max: 3.0,
                min_excl: true,
                max_excl: false,
            };
            assert_eq!(zz.count_in_score(&sr), 3);
            let rs = |range: &ScoreRange, rev, limit| {
                names(&collect(|f| zz.range_by_score(range, rev, limit, f)))
            };
            assert_eq!(rs(&sr, false, None), ["b", "c", "d"]);
            assert_eq!(rs(&sr, true, None), ["d", "c", "b"]);
            assert_eq!(
                rs(
                    &sr,
                    false,
                    Some(Limit {
                        offset: 1,
                        count: 1
                    })
                ),
                ["c"]
            );
            assert_eq!(
                rs(
                    &sr,
                    true,
                    Some(Limit {
                        offset: 1,
                        count: -1
                    })
                ),
                ["c", "b"]
            );
            assert_eq!(
                rs(
                    &sr,
                    false,
                    Some(Limit {
                        offset: -1,
                        count: 5
                    })
                ),
                Vec::<String>::new()
            );
            assert_eq!(
                rs(
                    &sr,
                    false,
                    Some(Limit {
                        offset: 0,
                        count: 0
                    })
                ),
                Vec::<String>::new()
            );
            let everything = ScoreRange::incl(f64::NEG_INFINITY, f64::INFINITY);
            assert_eq!(zz.count_in_score(&everything), 6);
            assert_eq!(
                zz.count_in_score(&ScoreRange {
                    min: 2.0,
                    max: 2.0,
                    min_excl: true,
                    max_excl: false
                }),
                0
            );
            assert_eq!(zz.count_in_score(&ScoreRange::incl(3.0, 1.0)), 0);
        }
    }

    #[test]
    fn lex_ranges_on_equal_scores() {
        for big in [false, true] {
            let mut zz = z(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0), ("e", 0.0)]);
            if big {
                zz.convert();
            }
            let lr = |min, max| LexRange { min, max };
            use LexBound::*;
            assert_eq!(zz.count_in_lex(&lr(NegInf, PosInf)), 5);
            assert_eq!(zz.count_in_lex(&lr(Incl(b"b"), Excl(b"d"))), 2);
            assert_eq!(zz.count_in_lex(&lr(Excl(b"b"), Incl(b"d"))), 2);
            assert_eq!(zz.count_in_lex(&lr(PosInf, NegInf)), 0);
            assert_eq!(zz.count_in_lex(&lr(Incl(b"d"), Incl(b"b"))), 0);
            let got = names(&collect(|f| {
                zz.range_by_lex(
                    &lr(Incl(b"aa"), PosInf),
                    true,
                    Some(Limit {
                        offset: 1,
                        count: 2,
                    }),
                    f,
                )
            }));
            assert_eq!(got, ["d", "c"]);
            let mut zz = zz.clone();
            assert_eq!(zz.remove_range_by_lex(&lr(NegInf, Excl(b"c"))), 2);
            assert_eq!(names(&all(&zz)), ["c", "d", "e"]);
        }
    }

    /// Members with different scores: the walks of Redis's listpack code,
    /// with the replies of Redis 7.0 to the same commands.
    #[test]
    fn lex_ranges_on_mixed_scores_walk_like_redis() {
        use LexBound::*;
        // Score order d b f a e c.
        let zz = z(&[
            ("d", 1.0),
            ("b", 2.0),
            ("f", 3.0),
            ("a", 4.0),
            ("e", 5.0),
            ("c", 6.0),
        ]);
        assert_eq!(zz.encoding_name(), "listpack");
        let lr = |min, max| LexRange { min, max };
        let range = |r: LexRange<'_>, rev: bool, limit: Option<Limit>| {
            let got = names(&collect(|f| zz.range_by_lex(&r, rev, limit, f)));
            assert_eq!(got.len(), zz.range_by_lex_len(&r, rev, limit));
            got
        };
        let lim = |offset, count| Some(Limit { offset, count });
        // From the first member not below min while not above max.
        assert_eq!(range(lr(Incl(b"b"), Incl(b"e")), false, None), ["d", "b"]);
        assert_eq!(zz.count_in_lex(&lr(Incl(b"b"), Incl(b"e"))), 2);
        assert_eq!(range(lr(Excl(b"a"), Excl(b"f")), false, None), ["d", "b"]);
        assert_eq!(
            range(lr(Incl(b"c"), PosInf), false, None),
            ["d", "b", "f", "a", "e", "c"]
        );
        assert_eq!(zz.count_in_lex(&lr(Incl(b"c"), PosInf)), 6);
        // Reversed: from the last member not above max while not below min.
        assert_eq!(range(lr(Incl(b"b"), Incl(b"e")), true, None), ["c", "e"]);
        assert_eq!(range(lr(Incl(b"c"), PosInf), true, None), ["c", "e"]);
        assert_eq!(
            range(lr(NegInf, PosInf), true, None),
            ["c", "e", "a", "f", "b", "d"]
        );
        // The offset skips without looking; the count stops early.
        assert_eq!(
            range(lr(Incl(b"b"), PosInf), false, lim(2, -1)),
            ["f", "a", "e", "c"]
        );
        assert_eq!(range(lr(NegInf, PosInf), false, lim(5, 3)), ["c"]);
        assert_eq!(range(lr(NegInf, PosInf), false, lim(1, 2)), ["b", "f"]);
        assert_eq!(range(lr(NegInf, PosInf), true, lim(4, 10)), ["b", "d"]);
        assert_eq!(range(lr(Incl(b"c"), PosInf), true, lim(1, 2)), ["e"]);
        assert!(range(lr(NegInf, PosInf), false, lim(-1, 2)).is_empty());
        assert!(range(lr(NegInf, PosInf), false, lim(0, 0)).is_empty());
        // Nothing when the last member is below min or the first above max.
        for r in [
            lr(NegInf, Incl(b"c")),
            lr(Incl(b"e"), PosInf),
            lr(Excl(b"d"), PosInf),
            lr(Incl(b"a"), Incl(b"a")),
            lr(Excl(b"c"), Incl(b"e")),
        ] {
            assert!(range(r, false, None).is_empty(), "{r:?}");
            assert!(range(r, true, None).is_empty(), "{r:?}");
            assert_eq!(zz.count_in_lex(&r), 0, "{r:?}");
            assert_eq!(zz.clone().remove_range_by_lex(&r), 0, "{r:?}");
        }
        let mut rem = zz.clone();
        assert_eq!(rem.remove_range_by_lex(&lr(Incl(b"b"), Incl(b"e"))), 2);
        assert_eq!(names(&all(&rem)), ["f", "a", "e", "c"]);
        let mut rem = zz.clone();
        assert_eq!(rem.remove_range_by_lex(&lr(Incl(b"c"), PosInf)), 6);
        assert!(rem.is_empty());
        // Redis's own example.
        let mut ba = z(&[("b", 1.0), ("a", 2.0)]);
        assert!(names(&collect(|f| ba.range_by_lex(
            &lr(Incl(b"b"), PosInf),
            false,
            None,
            f
        )))
        .is_empty());
        assert_eq!(ba.remove_range_by_lex(&lr(Incl(b"b"), PosInf)), 0);
        assert_eq!(ba.len(), 2);
    }

    /// The skiplist encoding on different scores: whatever boundary the
    /// tree's descent stops at, the replies are walks from it that keep
    /// Redis's checks, and nothing panics.
    #[test]
    fn lex_ranges_on_mixed_scores_big() {
        use LexBound::*;
        let mut zz = ZSet::new();
        for i in 0..300u32 {
            let m = format!("m{:03}", (i * 37) % 300);
            zz.add(m.as_bytes(), f64::from(i % 17), AddFlags::default())
                .unwrap();
        }
        assert_eq!(zz.encoding_name(), "skiplist");
        let bounds = [
            NegInf,
            PosInf,
            Incl(&b"m100"[..]),
            Excl(&b"m100"[..]),
            Incl(&b"m250"[..]),
            Excl(&b"m007"[..]),
        ];
        for &min in &bounds {
            for &max in &bounds {
                let r = LexRange { min, max };
                for rev in [false, true] {
                    let got = collect(|f| zz.range_by_lex(&r, rev, None, f));
                    assert_eq!(got.len(), zz.range_by_lex_len(&r, rev, None));
                    if let Some((first, _)) = got.first() {
                        assert!(!r.below_min(first) && r.not_above_max(first));
                    }
                    for (m, _) in &got {
                        assert!(if rev {
                            !r.below_min(m)
                        } else {
                            r.not_above_max(m)
                        });
                    }
                }
                if r.is_empty() {
                    assert_eq!(zz.count_in_lex(&r), 0);
                    assert_eq!(zz.clone().remove_range_by_lex(&r), 0);
                }
                let mut rem = zz.clone();
                let n = rem.remove_range_by_lex(&r);
                assert_eq!(rem.len() + n, zz.len());
            }
        }
        // Scores in member order: every walk is exact, as with equal scores.
        let sorted = z(&[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]);
        let mut big = sorted.clone();
        big.convert();
        let r = LexRange {
            min: Excl(b"a"),
            max: Incl(b"c"),
        };
        for zz in [&sorted, &big] {
            assert_eq!(
                names(&collect(|f| zz.range_by_lex(&r, false, None, f))),
                ["b", "c"]
            );
            assert_eq!(
                names(&collect(|f| zz.range_by_lex(&r, true, None, f))),
                ["c", "b"]
            );
            assert_eq!(zz.count_in_lex(&r), 2);
        }
    }

    #[test]
    fn pops_and_removals() {
        let mut zz = ZSet::new();
        for i in 0..300 {
            zz.add(
                format!("m{i:03}").as_bytes(),
                f64::from(i % 100),
                AddFlags::default(),
            )
            .unwrap();
        }
        assert_eq!(zz.encoding_name(), "skiplist");
        let p = zz.pop_min(2);
        assert_eq!(names(&p), ["m000", "m100"]);
        let p = zz.pop_max(3);
        assert_eq!(names(&p), ["m299", "m199", "m099"]);
        assert_eq!(zz.remove_range_by_score(&ScoreRange::incl(10.0, 19.0)), 30);
        assert_eq!(zz.remove_range_by_rank(0, 9), 10);
        assert_eq!(zz.len(), 300 - 5 - 30 - 10);
        assert_eq!(zz.remove_range_by_rank(0, -1), 255);
        assert!(zz.is_empty());
        assert!(zz.pop_min(1).is_empty());
    }

    #[test]
    fn mass_removal_gives_memory_back() {
        let mut zz = ZSet::new();
        for i in 0..100_000u32 {
            zz.add(
                format!("member:{i}").as_bytes(),
                f64::from(i),
                AddFlags::default(),
            )
            .unwrap();
        }
        let full = zz.mem_usage();
        let per = full as f64 / 100_000.0;
        assert!(per < 80.0, "{per} bytes per member");
        zz.remove_range_by_rank(0, 98_999);
        assert!(
            zz.mem_usage() < full / 20,
            "{} after, {full} before",
            zz.mem_usage()
        );
        assert_eq!(zz.len(), 1000);
        assert_eq!(zz.score(b"member:99999"), Some(99999.0));
    }

    fn inp(z: &ZSet, weight: f64) -> ZInput<'_> {
        ZInput {
            src: ZSource::Zset(z),
            weight,
        }
    }

    #[test]
    fn algebra_weights_aggregates_and_infinities() {
        let a = z(&[("x", 1.0), ("y", 2.0), ("i", f64::NEG_INFINITY)]);
        let b = z(&[("y", 10.0), ("z", 3.0), ("i", f64::INFINITY)]);
        let mut s = Set::new();
        s.insert(b"y");
        s.insert(b"w");
        let u = ZSet::union(
            &[
                inp(&a, 1.0),
                inp(&b, 2.0),
                ZInput {
                    src: ZSource::Set(&s),
                    weight: 1.0,
                },
                ZInput {
                    src: ZSource::Empty,
                    weight: 1.0,
                },
            ],
            Aggregate::Sum,
        );
        let got: HashMap<Vec<u8>, f64> = all(&u).into_iter().collect();
        let want: HashMap<Vec<u8>, f64> =
            [("x", 1.0), ("y", 23.0), ("z", 6.0), ("w", 1.0), ("i", 0.0)]
                .iter()
                .map(|(m, s)| (m.as_bytes().to_vec(), *s))
                .collect();
        assert_eq!(got, want);
        let i = ZSet::inter(&[inp(&a, 1.0), inp(&b, 1.0)], Aggregate::Max);
        assert_eq!(
            all(&i),
            vec![(b"y".to_vec(), 10.0), (b"i".to_vec(), f64::INFINITY)]
        );
        let i = ZSet::inter(&[inp(&a, 1.0), inp(&b, 1.0)], Aggregate::Min);
        assert_eq!(
            all(&i),
            vec![(b"i".to_vec(), f64::NEG_INFINITY), (b"y".to_vec(), 2.0)]
        );
        assert_eq!(ZSet::inter_card(&[inp(&a, 1.0), inp(&b, 1.0)], 0), 2);
        assert_eq!(ZSet::inter_card(&[inp(&a, 1.0), inp(&b, 1.0)], 1), 1);
        assert!(ZSet::inter(
            &[
                inp(&a, 1.0),
                ZInput {
                    src: ZSource::Empty,
                    weight: 1.0
                }
            ],
            Aggregate::Sum
        )
        .is_empty());
        // 0 * inf is NaN, counted as 0.
        let w0 = ZSet::union(&[inp(&b, 0.0)], Aggregate::Sum);
        assert_eq!(w0.score(b"i"), Some(0.0));
        let d = ZSet::diff(&[inp(&a, 5.0), inp(&b, 1.0)]);
        assert_eq!(all(&d), vec![(b"x".to_vec(), 1.0)]);
        assert!(ZSet::diff(&[]).is_empty());
        // Results are compact when small, skiplists otherwise.
        assert_eq!(u.encoding_name(), "listpack");
        let big: Vec<(Vec<u8>, f64)> = (0..200)
            .map(|i| (format!("{i}").into_bytes(), 1.0))
            .collect();
        assert_eq!(ZSet::from_pairs(big).encoding_name(), "skiplist");
    }

    #[test]
    fn random_members() {
        let mut rng = Rng::new(3);
        for n in [10usize, 500] {
            let mut zz = ZSet::new();
            for i in 0..n {
                zz.add(format!("m{i}").as_bytes(), i as f64, AddFlags::default())
                    .unwrap();
            }
            let (m, s) = zz.random(&mut rng).unwrap();
            assert_eq!(zz.score(m), Some(s));
            for count in [-20i64, 0, 1, 7, n as i64, n as i64 * 2] {
                let got = collect(|f| zz.random_with_count(count, &mut rng, f));
                assert_eq!(got.len(), crate::sample::random_reply_len(count, n));
                assert!(got.iter().all(|(m, s)| zz.score(m) == Some(*s)));
                if count > 0 {
                    assert!(
                        got.windows(2).all(|w| w[0].1 < w[1].1),
                        "distinct, in order"
                    );
                }
            }
        }
        assert!(ZSet::new().random(&mut rng).is_none());
    }

    /// Every member is as likely as any other in both encodings:
    /// ZRANDMEMBER with a negative count, without a count, and the members
    /// a positive count picks (not independent within a reply, which only
    /// makes the statistic smaller), each over about 1000 draws per member,
    /// chi-square tested.
    #[test]
    fn random_draws_are_uniform() {
        use crate::sample::uniformity::check;
        let mut rng = Rng::new(0x5eed_0003);
        for n in [100usize, 200] {
            let items: Vec<Vec<u8>> = (0..n).map(|i| format!("member:{i}").into_bytes()).collect();
            let mut zz = ZSet::new();
            for (i, m) in items.iter().enumerate() {
                zz.add(m, (i % 7) as f64, AddFlags::default()).unwrap();
            }
            let enc = zz.encoding_name();
            let draws = 1000 * n as i64;
            check(&format!("ZRANDMEMBER -{draws}, {enc}"), &items, |hit| {
                zz.random_with_count(-draws, &mut rng, |m, _| hit(m))
            });
            // Fewer draws than members per call: one sampling loop each.
            let few = n as i64 / 2;
            check(
                &format!("ZRANDMEMBER -{few} x{}, {enc}", draws / few),
                &items,
                |hit| {
                    for _ in 0..draws / few {
                        zz.random_with_count(-few, &mut rng, |m, _| hit(m));
                    }
                },
            );
            check(&format!("ZRANDMEMBER x{draws}, {enc}"), &items, |hit| {
                for _ in 0..draws {
                    hit(zz.random(&mut rng).unwrap().0);
                }
            });
            for k in [10, n as i64 / 2] {
                check(&format!("ZRANDMEMBER {k}, {enc}"), &items, |hit| {
                    for _ in 0..draws / k {
                        zz.random_with_count(k, &mut rng, |m, _| hit(m));
                    }
                });
            }
        }
    }

    #[test]
    fn small_zset_memory_beats_redis_listpack() {
        // 10 members of 10 bytes with small integer scores: Redis 7.0 spends
        // 6 + 10 * (12 + 2) + 1 = 147 bytes of listpack (160 with jemalloc).
        let mut zz = ZSet::new();
        for i in 0..10 {
            zz.add(
                format!("member:{i:03}").as_bytes(),
                f64::from(i),
                AddFlags::default(),
            )
            .unwrap();
        }
        let Repr::Pack(lp) = &zz.repr else { panic!() };
        assert_eq!(lp.used_bytes(), 130);
    }

    // ---- model-based ------------------------------------------------------

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>, f64, AddFlags),
        Incr(Vec<u8>, f64),
        Rem(Vec<u8>),
        Score(Vec<u8>),
        Rank(Vec<u8>, bool),
        Count(ScoreRange),
        RangeRank(i64, i64, bool),
        RangeScore(ScoreRange, bool, Option<Limit>),
        PopMin(usize),
        PopMax(usize),
        RemRank(i64, i64),
        RemScore(ScoreRange),
        Random(i64),
        Scan,
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (-5i32..5).prop_map(f64::from),
            1 => prop::sample::select(vec![f64::NEG_INFINITY, f64::INFINITY, -0.0, 0.5, -2.5, 1e10, 300.0, -40000.0, 3e9]),
        ]
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            30 => (0u32..200).prop_map(|i| format!("m{i}").into_bytes()),
            1 => (0u8..3).prop_map(|i| vec![b'L' + i; 70]),
        ]
    }

    fn flags() -> impl Strategy<Value = AddFlags> {
        (0u8..4, 0u8..3, any::<bool>()).prop_map(|(cond, cmp, incr)| AddFlags {
            nx: cond == 1,
            xx: cond == 2,
            gt: cond != 1 && cmp == 1,
            lt: cond != 1 && cmp == 2,
            incr,
        })
    }

    fn range() -> impl Strategy<Value = ScoreRange> {
        (score(), score(), any::<bool>(), any::<bool>()).prop_map(|(a, b, x, y)| ScoreRange {
            min: a.min(b),
            max: a.max(b),
            min_excl: x,
            max_excl: y,
        })
    }

    fn limit() -> impl Strategy<Value = Option<Limit>> {
        prop::option::of((-1i64..6, -1i64..6).prop_map(|(offset, count)| Limit { offset, count }))
    }

    fn op() -> impl Strategy<Value = Op> {
        let idx = -20i64..20;
        prop_oneof![
            16 => (member(), score(), flags()).prop_map(|(m, s, f)| Op::Add(m, s, f)),
            2 => (member(), score()).prop_map(|(m, s)| Op::Incr(m, s)),
            4 => member().prop_map(Op::Rem),
            2 => member().prop_map(Op::Score),
            2 => (member(), any::<bool>()).prop_map(|(m, r)| Op::Rank(m, r)),
            1 => range().prop_map(Op::Count),
            2 => (idx.clone(), idx.clone(), any::<bool>()).prop_map(|(a, b, r)| Op::RangeRank(a, b, r)),
            2 => (range(), any::<bool>(), limit()).prop_map(|(r, rev, l)| Op::RangeScore(r, rev, l)),
            1 => (0usize..4).prop_map(Op::PopMin),
            1 => (0usize..4).prop_map(Op::PopMax),
            1 => (idx.clone(), idx).prop_map(|(a, b)| Op::RemRank(a, b)),
            1 => range().prop_map(Op::RemScore),
            1 => (-5i64..8).prop_map(Op::Random),
            1 => Just(Op::Scan),
        ]
    }

    fn in_range(r: &ScoreRange, s: f64) -> bool {
        !r.below_min(s) && r.not_above_max(s)
    }

    fn model_add(
        m: &mut Model,
        member: &[u8],
        score: f64,
        f: AddFlags,
    ) -> Result<AddOutcome, ZsetError> {
        match m.get(member).copied() {
            Some(cur) => {
                if f.nx {
                    return Ok(AddOutcome::Skipped);
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    return Err(ZsetError::NanScore);
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    return Ok(AddOutcome::Skipped);
                }
                if new == cur {
                    return Ok(AddOutcome::Unchanged(cur));
                }
                m.insert(member.to_vec(), new);
                Ok(AddOutcome::Updated(new))
            }
            None if f.xx => Ok(AddOutcome::Skipped),
            None => {
                m.insert(member.to_vec(), score);
                Ok(AddOutcome::Added(score))
            }
        }
    }

    fn model_window(
        v: Vec<(Vec<u8>, f64)>,
        rev: bool,
        limit: Option<Limit>,
    ) -> Vec<(Vec<u8>, f64)> {
        let mut v = v;
        if rev {
            v.reverse();
        }
        match limit {
            None => v,
            Some(l) if l.offset < 0 => vec![],
            Some(l) => {
                let it = v.into_iter().skip(l.offset as usize);
                if l.count < 0 {
                    it.collect()
                } else {
                    it.take(l.count as usize).collect()
                }
            }
        }
    }

    fn model_rank_slice(v: &[(Vec<u8>, f64)], a: i64, b: i64, rev: bool) -> Vec<(Vec<u8>, f64)> {
        let mut v = v.to_vec();
        if rev {
            v.reverse();
        }
        match crate::list::normalize_range(a, b, v.len()) {
            None => vec![],
            Some((s, e)) => v[s..=e].to_vec(),
        }
    }

    fn scan_all(z: &ZSet) -> HashMap<Vec<u8>, f64> {
        let mut out = HashMap::new();
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, 10, |m, s| {
                out.insert(m.to_vec(), s);
            });
            if cursor == 0 {
                return out;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

        #[test]
        fn zset_matches_model(ops in prop::collection::vec(op(), 1..700), seed in any::<u64>()) {
            let mut rng = Rng::new(seed);
            let mut zz = ZSet::new();
            let mut m = Model::new();
            let mut ever_big = false;
            for op in ops {
                match op {
                    Op::Add(k, s, f) => prop_assert_eq!(zz.add(&k, s, f), model_add(&mut m, &k, s, f)),
                    Op::Incr(k, d) => {
                        let want = match model_add(&mut m, &k, d, AddFlags { incr: true, ..AddFlags::default() }) {
                            Ok(AddOutcome::Added(s) | AddOutcome::Updated(s) | AddOutcome::Unchanged(s)) => Ok(s),
                            Ok(AddOutcome::Skipped) => unreachable!(),
                            Err(e) => Err(e),
                        };
                        prop_assert_eq!(zz.incr_by(&k, d), want);
                    }
                    Op::Rem(k) => prop_assert_eq!(zz.remove(&k), m.remove(&k).is_some()),
                    Op::Score(k) => prop_assert_eq!(zz.score(&k), m.get(&k).copied()),
                    Op::Rank(k, rev) => {
                        let v = sorted(&m);
                        let want = v.iter().position(|(x, _)| *x == k).map(|r| if rev { v.len() - 1 - r } else { r });
                        prop_assert_eq!(zz.rank(&k, rev), want);
                    }
                    Op::Count(r) => prop_assert_eq!(zz.count_in_score(&r), m.values().filter(|&&s| in_range(&r, s)).count()),
                    Op::RangeRank(a, b, rev) => {
                        let want = model_rank_slice(&sorted(&m), a, b, rev);
                        prop_assert_eq!(collect(|f| zz.range_by_rank(a, b, rev, f)), want);
                    }
                    Op::RangeScore(r, rev, l) => {
                        let v: Vec<_> = sorted(&m).into_iter().filter(|(_, s)| in_range(&r, *s)).collect();
                        prop_assert_eq!(collect(|f| zz.range_by_score(&r, rev, l, f)), model_window(v, rev, l));
                    }
                    Op::PopMin(n) => {
                        let want: Vec<_> = sorted(&m).into_iter().take(n).collect();
                        for (k, _) in &want { m.remove(k); }
                        prop_assert_eq!(zz.pop_min(n), want);
                    }
                    Op::PopMax(n) => {
                        let want: Vec<_> = sorted(&m).into_iter().rev().take(n).collect();
                        for (k, _) in &want { m.remove(k); }
                        prop_assert_eq!(zz.pop_max(n), want);
                    }
                    Op::RemRank(a, b) => {
                        let gone = model_rank_slice(&sorted(&m), a, b, false);
                        for (k, _) in &gone { m.remove(k); }
                        prop_assert_eq!(zz.remove_range_by_rank(a, b), gone.len());
                    }
                    Op::RemScore(r) => {
                        let before = m.len();
                        m.retain(|_, s| !in_range(&r, *s));
                        prop_assert_eq!(zz.remove_range_by_score(&r), before - m.len());
                    }
                    Op::Random(c) => {
                        let got = collect(|f| zz.random_with_count(c, &mut rng, f));
                        prop_assert_eq!(got.len(), crate::sample::random_reply_len(c, m.len()));
                        for (k, s) in &got { prop_assert_eq!(m.get(k), Some(s)); }
                        if c > 0 {
                            prop_assert_eq!(got.iter().map(|(k, _)| k).collect::<HashSet<_>>().len(), got.len());
                        }
                    }
                    Op::Scan => prop_assert_eq!(scan_all(&zz), m.iter().map(|(k, s)| (k.clone(), *s)).collect::<HashMap<_, _>>()),
                }
                prop_assert_eq!(zz.len(), m.len());
                ever_big |= m.len() > ZSET_MAX_LISTPACK_ENTRIES || m.keys().any(|k| k.len() > ZSET_MAX_LISTPACK_VALUE);
                prop_assert_eq!(zz.encoding_name(), if ever_big { "skiplist" } else { "listpack" });
            }
            prop_assert_eq!(all(&zz), sorted(&m));
        }

        #[test]
        fn lex_ops_match_model_on_equal_scores(
            ops in prop::collection::vec((0u8..5, (0u32..300), (0u8..4, 0u32..300), (0u8..4, 0u32..300), any::<bool>(), limit()), 1..400)
        ) {
            fn bound(kind: u8, i: u32) -> (u8, Vec<u8>) {
                (kind, format!("k{i:03}").into_bytes())
            }
            fn lex<'a>(kind: u8, x: &'a [u8]) -> LexBound<'a> {
                match kind { 0 => LexBound::NegInf, 1 => LexBound::PosInf, 2 => LexBound::Incl(x), _ => LexBound::Excl(x) }
            }
            let mut zz = ZSet::new();
            let mut m = Model::new();
            for (kind, k, (ak, a), (bk, b), rev, l) in ops {
                let key = format!("k{k:03}").into_bytes();
                let (ak, a) = bound(ak, a);
                let (bk, b) = bound(bk, b);
                let r = LexRange { min: lex(ak, &a), max: lex(bk, &b) };
                let inr = |x: &[u8]| !r.below_min(x) && r.not_above_max(x);
                match kind {
                    0 | 1 => { zz.add(&key, 0.0, AddFlags::default()).unwrap(); m.insert(key, 0.0); }
                    2 => prop_assert_eq!(zz.count_in_lex(&r), m.keys().filter(|x| inr(x)).count() as i64),
                    3 => {
                        let v: Vec<_> = sorted(&m).into_iter().filter(|(x, _)| inr(x)).collect();
                        prop_assert_eq!(collect(|f| zz.range_by_lex(&r, rev, l, f)), model_window(v, rev, l));
                    }
                    _ => {
                        let before = m.len();
                        m.retain(|x, _| !inr(x));
                        prop_assert_eq!(zz.remove_range_by_lex(&r), before - m.len());
                    }
                }
            }
            prop_assert_eq!(all(&zz), sorted(&m));
        }

        #[test]
        fn algebra_matches_model(
            sets in prop::collection::vec(prop::collection::vec(((0u32..250), score()), 0..300), 1..4),
            weights in prop::collection::vec(prop::sample::select(vec![1.0, 2.0, -1.0, 0.0, 0.5]), 4),
            agg in prop::sample::select(vec![Aggregate::Sum, Aggregate::Min, Aggregate::Max]),
        ) {
            let models: Vec<Model> = sets.iter().map(|s| s.iter().map(|(i, sc)| (format!("m{i}").into_bytes(), *sc)).collect()).collect();
            let zsets: Vec<ZSet> = models.iter().map(|m| ZSet::from_pairs(m.iter().map(|(k, s)| (k.clone(), *s)).collect())).collect();
            for (z, m) in zsets.iter().zip(&models) { prop_assert_eq!(all(z), sorted(m)); }
            let inputs: Vec<ZInput<'_>> = zsets.iter().zip(&weights).map(|(z, &w)| ZInput { src: ZSource::Zset(z), weight: w }).collect();
            // The model combines in the same order: smallest input first.
            let mut order: Vec<usize> = (0..models.len()).collect();
            order.sort_by_key(|&i| models[i].len());
            let mut u = Model::new();
            for &i in &order {
                for (k, &s) in &models[i] {
                    let v = weighted(s, weights[i]);
                    match u.get_mut(k) { Some(t) => aggregate(t, v, agg), None => { u.insert(k.clone(), v); } }
                }
            }
            prop_assert_eq!(all(&ZSet::union(&inputs, agg)), sorted(&u));
            let mut it = Model::new();
            'outer: for (k, &s) in &models[order[0]] {
                let mut t = weighted(s, weights[order[0]]);
                for &j in &order[1..] {
                    match models[j].get(k) { Some(&x) => aggregate(&mut t, weighted(x, weights[j]), agg), None => continue 'outer }
                }
                it.insert(k.clone(), t);
            }
            let inter = ZSet::inter(&inputs, agg);
            prop_assert_eq!(all(&inter), sorted(&it));
            prop_assert_eq!(ZSet::inter_card(&inputs, 0), it.len());
            let small = it.len() <= ZSET_MAX_LISTPACK_ENTRIES;
            prop_assert_eq!(inter.encoding_name(), if small { "listpack" } else { "skiplist" });
            let d: Model = models[0].iter().filter(|(k, _)| models[1..].iter().all(|o| !o.contains_key(*k))).map(|(k, s)| (k.clone(), *s)).collect();
            prop_assert_eq!(all(&ZSet::diff(&inputs)), sorted(&d));
        }
    }
}
