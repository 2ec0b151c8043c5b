//! The hash value: field -> value byte strings, in one of two encodings
//! chosen, as in Redis, by size:
//!
//! - `listpack`: field and value entries alternate in one [`Listpack`]
//!   buffer, in insertion order; every lookup is a linear scan. Used while
//!   the hash has at most [`HASH_MAX_LISTPACK_ENTRIES`] fields and no field or
//!   value longer than [`HASH_MAX_LISTPACK_VALUE`] bytes.
//! - `hashtable`: a [`Dict<SmallBytes>`]; O(1) lookups, a real SCAN cursor.
//!   The conversion is one-way, as in Redis.
//!
//! Cost per field (10-byte field, 10-byte value): listpack 22 bytes (Redis
//! 7.0: 24, or 14 + the digits' 2-4 when the value is a small integer);
//! hashtable one 56-byte dict node (64 after malloc) holding both strings
//! inline when each is at most 23 bytes, plus 8-16 bytes of bucket: ~75
//! bytes (Redis 7.0: 24-byte dictEntry + two sds + bucket, ~80 with
//! jemalloc). Longer strings add one exact-size allocation each.
//!
//! Field TTLs (HEXPIRE and friends) live in a [`FieldTtls`] side table
//! that only a hashtable carries, and only while some field has a TTL: a
//! listpack hash converts to a hashtable when a field first gets one.
//! Writing a field with [`Hash::set`] clears its TTL, as HSET does in
//! Redis; the counters keep it. This type never looks at a clock: the
//! keyspace decides when fields are expired and calls
//! [`Hash::expire_fields`].

use crate::bytes::SmallBytes;
use crate::dict::{self, Dict};
use crate::field_ttl::FieldTtls;
use crate::listpack::{self, Listpack};
use crate::num::{self, LongDouble};
use crate::sample::{dict_random, dict_random_with_count, dict_scan, random_with_count, Rng};

/// A hash with more fields than this is a hashtable
/// (`hash-max-listpack-entries`).
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
/// A hash with a field or value longer than this is a hashtable
/// (`hash-max-listpack-value`).
pub const HASH_MAX_LISTPACK_VALUE: usize = 64;

/// Why HINCRBY / HINCRBYFLOAT refused; the server maps each to Redis's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashError {
    /// "ERR hash value is not an integer"
    NotInteger,
    /// "ERR hash value is not a float"
    NotFloat,
    /// "ERR increment or decrement would overflow"
    Overflow,
    /// "ERR increment would produce NaN or Infinity"
    NanOrInfinity,
}

/// A hash value; see the module docs.
#[derive(Clone)]
pub struct Hash {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Pack(Listpack),
    Table(Box<Table>),
}

#[derive(Clone, Default)]
struct Table {
    dict: Dict<SmallBytes>,
    /// Heap bytes owned by values longer than `SmallBytes` keeps inline.
    value_heap: usize,
    /// The fields' TTLs; `None` while no field has one (never empty).
    ttls: Option<Box<FieldTtls>>,
}

// The TTL slot keeps the box in the allocation class it has without it
// (jemalloc serves 129..=160 bytes from one class).
const _: () = assert!(std::mem::size_of::<Table>() > 128 && std::mem::size_of::<Table>() <= 160);

const _: () = assert!(std::mem::size_of::<Hash>() == 24);
/// Values move between shards and into snapshots.
const _: () = {
    const fn clone_send<T: Clone + Send + Sync>() {}
    clone_send::<Hash>()
};

impl Default for Hash {
    fn default() -> Self {
        Self::new()
    }
}

/// The (field, value offset, end) of `field`'s pair in a listpack hash.
fn lp_find(lp: &Listpack, field: &[u8]) -> Option<(usize, usize, usize)> {
    let mut it = lp.iter();
    loop {
        let off = it.offset();
        let f = it.next()?;
        let voff = it.offset();
        it.next();
        if f == field {
            return Some((off, voff, it.offset()));
        }
    }
}

fn fits_pack(field: &[u8], value: &[u8]) -> bool {
    field.len() <= HASH_MAX_LISTPACK_VALUE && value.len() <= HASH_MAX_LISTPACK_VALUE
}

impl Table {
    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let v = SmallBytes::new(value);
        self.value_heap += v.heap_bytes();
        match self.dict.insert(field, v) {
            Some(old) => {
                self.value_heap -= old.heap_bytes();
                false
            }
            None => true,
        }
    }

    /// Drops `field`'s TTL, and the side table once it is empty.
    #[inline]
    fn clear_ttl(&mut self, field: &[u8]) -> bool {
        let Some(t) = &mut self.ttls else {
            return false;
        };
        let had = t.remove(field).is_some();
        if t.is_empty() {
            self.ttls = None;
        }
        had
    }
}

impl Hash {
    /// A small hash's listpack bytes, kept outside the key's node: where
    /// a lookup that found the node misses the cache once more.
    #[inline]
    pub(crate) fn pack_bytes(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Pack(lp) => Some(lp.entry_bytes()),
            Repr::Table(_) => None,
        }
    }

    /// An empty hash (a listpack that allocates nothing yet).
    pub fn new() -> Self {
        Hash {
            repr: Repr::Pack(Listpack::new()),
        }
    }

    /// HLEN.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(lp) => lp.len() / 2,
            Repr::Table(t) => t.dict.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING: "listpack" or "hashtable".
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Estimated bytes this value holds, inline part included. O(1).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.repr {
                Repr::Pack(lp) => lp.heap_bytes(),
                Repr::Table(t) => {
                    crate::malloc_size(std::mem::size_of::<Table>())
                        + t.dict.heap_bytes()
                        + t.value_heap
                        + t.ttls.as_ref().map_or(0, |x| {
                            crate::malloc_size(std::mem::size_of::<FieldTtls>()) + x.heap_bytes()
                        })
                }
            }
    }

    /// HGET: the value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Pack(lp) => lp_find(lp, field).map(|(_, voff, _)| lp.entry_at(voff).0),
            Repr::Table(t) => t.dict.get(field).map(SmallBytes::as_bytes),
        }
    }

    /// HEXISTS.
    #[inline]
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// HSTRLEN: length of the value of `field`, 0 when absent.
    pub fn strlen(&self, field: &[u8]) -> usize {
        self.get(field).map_or(0, <[u8]>::len)
    }

    /// HSET of one pair: true when `field` is new. Clears the field's TTL.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Table(t) = &mut self.repr {
            t.clear_ttl(field);
        }
        self.set_keep_ttl(field, value)
    }

    /// [`set`](Self::set) that keeps the field's TTL (HINCRBY, HSETEX
    /// KEEPTTL).
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(lp) => {
                if fits_pack(field, value) {
                    if let Some((_, voff, end)) = lp_find(lp, field) {
                        lp.replace(voff, end, 1, &[value]);
                        return false;
                    }
                    if lp.len() / 2 < HASH_MAX_LISTPACK_ENTRIES {
                        let at = lp.end_offset();
                        lp.replace(at, at, 0, &[field, value]);
                        return true;
                    }
                }
                self.convert();
                self.set_keep_ttl(field, value)
            }
            Repr::Table(t) => t.insert(field, value),
        }
    }

    /// HSETNX: sets `field` only when absent; true when it did.
    pub fn set_nx(&mut self, field: &[u8], value: &[u8]) -> bool {
        if self.contains(field) {
            return false;
        }
        self.set(field, value)
    }

    /// HDEL of one field: true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(lp) => match lp_find(lp, field) {
                Some((off, _, end)) => {
                    lp.replace(off, end, 2, &[]);
                    true
                }
                None => false,
            },
            Repr::Table(t) => match t.dict.remove(field) {
                Some(old) => {
                    t.value_heap -= old.heap_bytes();
                    t.clear_ttl(field);
                    true
                }
                None => false,
            },
        }
    }

    // ---- field TTLs ------------------------------------------------------------

    /// Whether some field has a TTL.
    #[inline]
    pub fn has_field_ttls(&self) -> bool {
        matches!(&self.repr, Repr::Table(t) if t.ttls.is_some())
    }

    /// `field`'s expiry time (unix ms), if it has one.
    pub fn field_ttl(&self, field: &[u8]) -> Option<u64> {
        match &self.repr {
            Repr::Table(t) => t.ttls.as_ref()?.get(field),
            Repr::Pack(_) => None,
        }
    }

    /// The earliest expiry time of any field.
    #[inline]
    pub fn min_field_ttl(&self) -> Option<u64> {
        match &self.repr {
            Repr::Table(t) => t.ttls.as_ref()?.min(),
            Repr::Pack(_) => None,
        }
    }

    /// Whether some field is expired at `now` (its time passed).
    #[inline]
    pub fn fields_due(&self, now: u64) -> bool {
        self.min_field_ttl().is_some_and(|at| now > at)
    }

    /// Gives an existing `field` a TTL (absolute unix ms), converting a
    /// listpack to a hashtable first. False when the field is missing.
    pub fn set_field_ttl(&mut self, field: &[u8], at: u64) -> bool {
        if !self.contains(field) {
            return false;
        }
        self.convert();
        let Repr::Table(t) = &mut self.repr else {
            unreachable!("just converted")
        };
        t.ttls.get_or_insert_with(Default::default).set(field, at);
        true
    }

    /// Removes `field`'s TTL; true when it had one.
    pub fn persist_field(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Table(t) => t.clear_ttl(field),
            Repr::Pack(_) => false,
        }
    }

    /// (field, expiry time) of every field with a TTL, earliest first.
    pub fn field_ttls(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let t = match &self.repr {
            Repr::Table(t) => t.ttls.as_deref(),
            Repr::Pack(_) => None,
        };
        t.into_iter().flat_map(FieldTtls::iter)
    }

    /// Deletes up to `max` fields expired at `now`, earliest first,
    /// calling `gone` with each; returns how many went.
    pub fn expire_fields(&mut self, now: u64, max: usize, mut gone: impl FnMut(&[u8])) -> usize {
        let Repr::Table(t) = &mut self.repr else {
            return 0;
        };
        let mut n = 0;
        while n < max {
            let Some(x) = &mut t.ttls else { break };
            let Some(field) = x.pop_expired(now) else {
                break;
            };
            if x.is_empty() {
                t.ttls = None;
            }
            if let Some(old) = t.dict.remove(&field) {
                t.value_heap -= old.heap_bytes();
            }
            gone(&field);
            n += 1;
        }
        n
    }

    /// Listpack -> hashtable.
    fn convert(&mut self) {
        if let Repr::Pack(lp) = &self.repr {
            let mut t = Table {
                dict: Dict::with_capacity(lp.len() / 2 + 1),
                value_heap: 0,
                ttls: None,
            };
            let mut it = lp.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                t.insert(f, v);
            }
            self.repr = Repr::Table(Box::new(t));
        }
    }

    /// HINCRBY: adds `delta` to the integer in `field` (0 when absent) and
    /// returns the sum.
    pub fn incr_by(&mut self, field: &[u8], delta: i64) -> Result<i64, HashError> {
        let old = match self.get(field) {
            Some(v) => num::parse_i64(v).ok_or(HashError::NotInteger)?,
            None => 0,
        };
        let new = old.checked_add(delta).ok_or(HashError::Overflow)?;
        let mut buf = [0u8; num::MAX_I64_CHARS];
        self.set_keep_ttl(field, num::format_i64(&mut buf, new));
        Ok(new)
    }

    /// HINCRBYFLOAT: adds `incr` to the number in `field` (0 when absent) in
    /// x87 long double arithmetic, stores the sum as Redis's `%.17Lf`-style
    /// text and returns that text, so results match Redis digit for digit.
    pub fn incr_by_float(&mut self, field: &[u8], incr: LongDouble) -> Result<Vec<u8>, HashError> {
        let old = match self.get(field) {
            Some(v) => LongDouble::parse(v).ok_or(HashError::NotFloat)?,
            None => LongDouble::ZERO,
        };
        let new = old.add(incr);
        if !new.is_finite() {
            return Err(HashError::NanOrInfinity);
        }
        let text = new.to_human();
        self.set_keep_ttl(field, &text);
        Ok(text)
    }

    /// (field, value) pairs: HGETALL. Insertion order for a listpack,
    /// unspecified for a hashtable.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::Pack(lp) => IterInner::Pack(lp.iter()),
                Repr::Table(t) => IterInner::Table(t.dict.iter()),
            },
        }
    }

    /// HKEYS.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(f, _)| f)
    }

    /// HVALS.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(_, v)| v)
    }

    /// HRANDFIELD without a count: a random pair.
    pub fn random(&self, rng: &mut Rng) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Pack(lp) => {
                if lp.is_empty() {
                    return None;
                }
                let off = lp.offset_of(2 * rng.below(lp.len() / 2));
                let (f, voff) = lp.entry_at(off);
                Some((f, lp.entry_at(voff).0))
            }
            Repr::Table(t) => dict_random(&t.dict, rng).map(|(k, v)| (k, v.as_bytes())),
        }
    }

    /// HRANDFIELD with a count, calling `f` once per reply item: `|count|`
    /// independent picks when negative, otherwise `min(count, len)` distinct
    /// fields. [`crate::sample::random_reply_len`] gives the item count up
    /// front for the reply header.
    pub fn random_with_count(&self, count: i64, rng: &mut Rng, mut f: impl FnMut(&[u8], &[u8])) {
        match &self.repr {
            Repr::Pack(lp) => {
                let offs: Vec<usize> = pair_offsets(lp);
                random_with_count(offs.len(), count, rng, |i| {
                    let (k, voff) = lp.entry_at(offs[i]);
                    f(k, lp.entry_at(voff).0);
                });
            }
            Repr::Table(t) => {
                dict_random_with_count(&t.dict, count, rng, |k, v| f(k, v.as_bytes()))
            }
        }
    }

    /// HSCAN step: calls `f` on about `count` pairs from `cursor` on and
    /// returns the next cursor (0: done). A listpack returns everything at
    /// once with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Pack(_) => {
                self.iter().for_each(|(k, v)| f(k, v));
                0
            }
            Repr::Table(t) => dict_scan(&t.dict, cursor, count, |k, v| f(k, v.as_bytes())),
        }
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

/// Byte offsets of every field entry of a listpack hash.
fn pair_offsets(lp: &Listpack) -> Vec<usize> {
    let mut out = Vec::with_capacity(lp.len() / 2);
    let mut it = lp.iter();
    loop {
        let off = it.offset();
        if it.next().is_none() {
            return out;
        }
        it.next();
        out.push(off);
    }
}

/// Iterator over a hash's (field, value) pairs.
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Pack(listpack::Iter<'a>),
    Table(dict::Iter<'a, SmallBytes>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Pack(it) => Some((it.next()?, it.next()?)),
            IterInner::Table(it) => it.next().map(|(k, v)| (k, v.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Rng;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn set_get_del_small() {
        let mut h = Hash::new();
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(!h.set(b"a", b"one"));
        assert_eq!(h.get(b"a"), Some(&b"one"[..]));
        assert_eq!(h.get(b"zz"), None);
        assert_eq!(h.len(), 2);
        assert_eq!(h.strlen(b"a"), 3);
        assert!(!h.set_nx(b"a", b"x"));
        assert!(h.set_nx(b"c", b"3"));
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            vec![(&b"a"[..], &b"one"[..]), (b"b", b"2"), (b"c", b"3")]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.keys().collect::<Vec<_>>(), vec![&b"a"[..], b"c"]);
        assert_eq!(h.encoding_name(), "listpack");
    }

    #[test]
    fn converts_on_entry_count_and_value_length() {
        let mut h = Hash::new();
        for i in 0..HASH_MAX_LISTPACK_ENTRIES {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f0", b"updated");
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"one-more", b"v");
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), HASH_MAX_LISTPACK_ENTRIES + 1);
        assert_eq!(h.get(b"f0"), Some(&b"updated"[..]));

        let mut h = Hash::new();
        h.set(b"f", &[b'x'; HASH_MAX_LISTPACK_VALUE]);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"g", &[b'x'; HASH_MAX_LISTPACK_VALUE + 1]);
        assert_eq!(h.encoding_name(), "hashtable");
        let mut h = Hash::new();
        h.set(&[b'k'; HASH_MAX_LISTPACK_VALUE + 1], b"v");
        assert_eq!(h.encoding_name(), "hashtable");
        // Deleting does not convert back, as in Redis.
        h.remove(&[b'k'; HASH_MAX_LISTPACK_VALUE + 1]);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn hincrby_rules() {
        let mut h = Hash::new();
        assert_eq!(h.incr_by(b"n", 5), Ok(5));
        assert_eq!(h.incr_by(b"n", -7), Ok(-2));
        assert_eq!(h.get(b"n"), Some(&b"-2"[..]));
        h.set(b"s", b"abc");
        assert_eq!(h.incr_by(b"s", 1), Err(HashError::NotInteger));
        h.set(b"s", b" 1");
        assert_eq!(h.incr_by(b"s", 1), Err(HashError::NotInteger));
        h.set(b"m", i64::MAX.to_string().as_bytes());
        assert_eq!(h.incr_by(b"m", 1), Err(HashError::Overflow));
        assert_eq!(h.incr_by(b"m", 0), Ok(i64::MAX));
        h.set(b"m", i64::MIN.to_string().as_bytes());
        assert_eq!(h.incr_by(b"m", -1), Err(HashError::Overflow));
    }

    fn ld(s: &str) -> LongDouble {
        LongDouble::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn hincrbyfloat_rules() {
        let mut h = Hash::new();
        assert_eq!(h.incr_by_float(b"f", ld("10.5")).unwrap(), b"10.5");
        assert_eq!(h.incr_by_float(b"f", ld("0.1")).unwrap(), b"10.6");
        assert_eq!(h.incr_by_float(b"f", ld("-10.6")).unwrap(), b"0");
        h.set(b"p", b"0.1");
        assert_eq!(
            h.incr_by_float(b"p", ld("0.2")).unwrap(),
            b"0.3",
            "long double, as Redis"
        );
        h.set(b"e", b"5.0e3");
        assert_eq!(h.incr_by_float(b"e", ld("200")).unwrap(), b"5200");
        h.set(b"big", b"1e20");
        assert_eq!(
            h.incr_by_float(b"big", ld("0")).unwrap(),
            b"100000000000000000000"
        );
        h.set(b"bad", b"x1");
        assert_eq!(h.incr_by_float(b"bad", ld("1")), Err(HashError::NotFloat));
        h.set(b"bad", b"nan");
        assert_eq!(h.incr_by_float(b"bad", ld("1")), Err(HashError::NotFloat));
        h.set(b"bad", b" 1");
        assert_eq!(h.incr_by_float(b"bad", ld("1")), Err(HashError::NotFloat));
        h.set(b"inf", b"inf");
        assert_eq!(
            h.incr_by_float(b"inf", ld("1")),
            Err(HashError::NanOrInfinity)
        );
        assert_eq!(
            h.incr_by_float(b"z", ld("inf")),
            Err(HashError::NanOrInfinity)
        );
        assert_eq!(h.get(b"z"), None);
    }

    #[test]
    fn random_fields_small_and_big() {
        let mut rng = Rng::new(1);
        for n in [5usize, 300] {
            let mut h = Hash::new();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes());
            }
            let (f, v) = h.random(&mut rng).unwrap();
            assert_eq!(&f[1..], &v[1..]);
            for count in [-7i64, 0, 1, 3, (n / 2) as i64, n as i64, n as i64 + 5] {
                let mut got = Vec::new();
                h.random_with_count(count, &mut rng, |f, v| {
                    assert_eq!(&f[1..], &v[1..]);
                    got.push(f.to_vec());
                });
                assert_eq!(
                    got.len(),
                    crate::sample::random_reply_len(count, n),
                    "n={n} count={count}"
                );
                if count > 0 {
                    let uniq: HashSet<_> = got.iter().collect();
                    assert_eq!(uniq.len(), got.len(), "distinct when count > 0");
                }
            }
        }
        let empty = Hash::new();
        assert!(empty.random(&mut rng).is_none());
    }

    /// Every field is as likely as any other in both encodings: HRANDFIELD
    /// with a negative count, without a count, and the fields a positive
    /// count picks (not independent within a reply, which only makes the
    /// statistic smaller), each over about 1000 draws per field,
    /// chi-square tested.
    #[test]
    fn random_draws_are_uniform() {
        use crate::sample::uniformity::check;
        let mut rng = Rng::new(0x5eed_0001);
        // A listpack, then hashtables made by a long value and by size.
        for (n, vlen) in [(100usize, 5), (200, HASH_MAX_LISTPACK_VALUE + 1), (600, 5)] {
            let fields: Vec<Vec<u8>> = (0..n).map(|i| format!("field:{i}").into_bytes()).collect();
            let mut h = Hash::new();
            for f in &fields {
                h.set(f, &vec![b'v'; vlen]);
            }
            let enc = h.encoding_name();
            let draws = 1000 * n as i64;
            check(&format!("HRANDFIELD -{draws}, {enc}"), &fields, |hit| {
                h.random_with_count(-draws, &mut rng, |f, _| hit(f))
            });
            // Fewer draws than members per call: one sampling loop each.
            let few = n as i64 / 2;
            check(
                &format!("HRANDFIELD -{few} x{}, {enc}", draws / few),
                &fields,
                |hit| {
                    for _ in 0..draws / few {
                        h.random_with_count(-few, &mut rng, |f, _| hit(f));
                    }
                },
            );
            check(&format!("HRANDFIELD x{draws}, {enc}"), &fields, |hit| {
                for _ in 0..draws {
                    hit(h.random(&mut rng).unwrap().0);
                }
            });
            for k in [10, n as i64 / 2] {
                check(&format!("HRANDFIELD {k}, {enc}"), &fields, |hit| {
                    for _ in 0..draws / k {
                        h.random_with_count(k, &mut rng, |f, _| hit(f));
                    }
                });
            }
        }
    }

    #[test]
    fn small_hash_memory_beats_redis_listpack() {
        // 10 fields of 10-byte names and 10-byte values: Redis 7.0 spends
        // 6 + 10 * 2 * 12 + 1 = 247 bytes of listpack (256 after jemalloc).
        let mut h = Hash::new();
        for i in 0..10 {
            h.set(
                format!("field:{i:04}").as_bytes(),
                format!("value:{i:04}").as_bytes(),
            );
        }
        let Repr::Pack(lp) = &h.repr else { panic!() };
        assert_eq!(lp.used_bytes(), 220);
        assert!(h.mem_usage() <= 24 + 256, "{}", h.mem_usage());
    }

    #[test]
    fn field_ttls_cost_nothing_once_gone() {
        let mut h = Hash::new();
        for i in 0..600 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding_name(), "hashtable");
        let plain = h.mem_usage();
        assert!(!h.has_field_ttls());
        assert!(h.set_field_ttl(b"f1", 10));
        assert!(h.set_field_ttl(b"f2", 20));
        assert!(!h.set_field_ttl(b"nope", 20));
        assert!(h.mem_usage() > plain);
        assert_eq!(h.min_field_ttl(), Some(10));
        assert!(h.persist_field(b"f1"));
        assert!(!h.persist_field(b"f1"));
        h.set(b"f2", b"w");
        assert!(!h.has_field_ttls(), "HSET cleared the last TTL");
        assert_eq!(h.mem_usage(), plain, "the side table is gone");
        // Counters keep a TTL; expiry takes fields in time order.
        h.set_field_ttl(b"f3", 30);
        h.set_field_ttl(b"f4", 5);
        h.set(b"n", b"1");
        h.set_field_ttl(b"n", 40);
        assert_eq!(h.incr_by(b"n", 2), Ok(3));
        assert_eq!(h.field_ttl(b"n"), Some(40));
        let mut gone = Vec::new();
        assert_eq!(h.expire_fields(31, 10, |f| gone.push(f.to_vec())), 2);
        assert_eq!(gone, [b"f4".to_vec(), b"f3".to_vec()]);
        assert_eq!(h.len(), 599);
        assert_eq!(h.expire_fields(41, 0, |_| {}), 0, "the bound holds");
        assert_eq!(h.expire_fields(41, 1, |_| {}), 1);
        assert!(!h.has_field_ttls());
        // A listpack converts when a field first gets a TTL.
        let mut small = Hash::new();
        small.set(b"a", b"1");
        assert!(small.set_field_ttl(b"a", 1));
        assert_eq!(small.encoding_name(), "hashtable");
    }

    fn scan_all(h: &Hash) -> HashMap<Vec<u8>, Vec<u8>> {
        let mut out = HashMap::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 10, |k, v| {
                out.insert(k.to_vec(), v.to_vec());
            });
            if cursor == 0 {
                return out;
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u16, Vec<u8>),
        SetNx(u16, Vec<u8>),
        Del(u16),
        Get(u16),
        Incr(u16, i64),
        IncrFloat(u16, i32),
        Strlen(u16),
        GetAll,
        Scan,
    }

    fn field(i: u16) -> Vec<u8> {
        if i % 97 == 96 {
            format!("long-field-{i}-{}", "x".repeat(60)).into_bytes()
        } else {
            format!("f{i}").into_bytes()
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let f = 0u16..200;
        let v = prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..12),
            2 => (-50i64..50).prop_map(|n| n.to_string().into_bytes()),
            1 => prop::collection::vec(any::<u8>(), 60..70),
        ];
        prop_oneof![
            10 => (f.clone(), v.clone()).prop_map(|(f, v)| Op::Set(f, v)),
            2 => (f.clone(), v).prop_map(|(f, v)| Op::SetNx(f, v)),
            4 => f.clone().prop_map(Op::Del),
            4 => f.clone().prop_map(Op::Get),
            2 => (f.clone(), -100i64..100).prop_map(|(f, d)| Op::Incr(f, d)),
            1 => (f.clone(), -100i32..100).prop_map(|(f, d)| Op::IncrFloat(f, d)),
            1 => f.prop_map(Op::Strlen),
            1 => Just(Op::GetAll),
            1 => Just(Op::Scan),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn hash_matches_hashmap_model(ops in prop::collection::vec(op(), 1..400)) {
            let mut h = Hash::new();
            let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            // Insertion order, for the listpack's HGETALL order.
            let mut order: Vec<Vec<u8>> = Vec::new();
            let mut ever_big = false;
            for op in ops {
                match op {
                    Op::Set(f, v) => {
                        let f = field(f);
                        let new = !m.contains_key(&f);
                        if new { order.push(f.clone()); }
                        prop_assert_eq!(h.set(&f, &v), new);
                        m.insert(f, v);
                    }
                    Op::SetNx(f, v) => {
                        let f = field(f);
                        let new = !m.contains_key(&f);
                        prop_assert_eq!(h.set_nx(&f, &v), new);
                        if new { order.push(f.clone()); m.insert(f, v); }
                    }
                    Op::Del(f) => {
                        let f = field(f);
                        order.retain(|k| *k != f);
                        prop_assert_eq!(h.remove(&f), m.remove(&f).is_some());
                    }
                    Op::Get(f) => {
                        let f = field(f);
                        prop_assert_eq!(h.get(&f), m.get(&f).map(Vec::as_slice));
                        prop_assert_eq!(h.contains(&f), m.contains_key(&f));
                    }
                    Op::Incr(f, d) => {
                        let f = field(f);
                        let want = match m.get(&f) {
                            None => Ok(d),
                            Some(v) => match num::parse_i64(v) {
                                None => Err(HashError::NotInteger),
                                Some(o) => o.checked_add(d).ok_or(HashError::Overflow),
                            },
                        };
                        if want.is_ok() && !m.contains_key(&f) { order.push(f.clone()); }
                        if let Ok(n) = want { m.insert(f.clone(), n.to_string().into_bytes()); }
                        prop_assert_eq!(h.incr_by(&f, d), want);
                    }
                    Op::IncrFloat(f, d) => {
                        let f = field(f);
                        let d = ld(&(f64::from(d) / 4.0).to_string());
                        let want = match m.get(&f) {
                            None => Ok(d),
                            Some(v) => LongDouble::parse(v).ok_or(HashError::NotFloat).map(|o| o.add(d)),
                        }.and_then(|x| if x.is_finite() { Ok(x.to_human()) } else { Err(HashError::NanOrInfinity) });
                        if want.is_ok() && !m.contains_key(&f) { order.push(f.clone()); }
                        if let Ok(t) = &want { m.insert(f.clone(), t.clone()); }
                        prop_assert_eq!(h.incr_by_float(&f, d), want);
                    }
                    Op::Strlen(f) => {
                        let f = field(f);
                        prop_assert_eq!(h.strlen(&f), m.get(&f).map_or(0, Vec::len));
                    }
                    Op::GetAll => {
                        let got: HashMap<Vec<u8>, Vec<u8>> = h.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                        prop_assert_eq!(&got, &m);
                        if h.encoding_name() == "listpack" {
                            let keys: Vec<Vec<u8>> = h.keys().map(<[u8]>::to_vec).collect();
                            prop_assert_eq!(&keys, &order);
                        }
                    }
                    Op::Scan => prop_assert_eq!(scan_all(&h), m.clone()),
                }
                prop_assert_eq!(h.len(), m.len());
                // Encoding: listpack exactly until a threshold was ever crossed.
                let over = m.len() > HASH_MAX_LISTPACK_ENTRIES
                    || m.iter().any(|(k, v)| !fits_pack(k, v));
                ever_big |= over;
                prop_assert_eq!(h.encoding_name(), if ever_big { "hashtable" } else { "listpack" });
            }
        }
    }
}
