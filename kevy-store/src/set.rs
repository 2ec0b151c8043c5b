//! The set value: distinct byte strings, in one of three encodings chosen,
//! as in Redis 7.2, by content and size:
//!
//! - `intset`: every member is a canonical decimal i64 (what Redis's
//!   `string2ll` accepts) and there are at most [`SET_MAX_INTSET_ENTRIES`]:
//!   a sorted boxed slice of i16, i32 or i64, whichever is the narrowest
//!   that holds all members (widened on demand, never narrowed). Binary
//!   search; members come back sorted.
//! - `listpack`: at most [`SET_MAX_LISTPACK_ENTRIES`] members of at most
//!   [`SET_MAX_LISTPACK_VALUE`] bytes, in a [`Listpack`] in insertion order;
//!   linear scans. Redis 7.0 has no listpack sets (it goes straight from
//!   intset to hashtable); set `SET_MAX_LISTPACK_ENTRIES` to 0 for that.
//! - `hashtable`: a [`Dict<()>`].
//!
//! Conversions only go towards `hashtable`, as in Redis.
//!
//! Cost per member: intset 2, 4 or 8 bytes (same as Redis); listpack
//! payload + 1 byte (Redis 7.2: payload + 2, integers less); hashtable one
//! 32-byte dict node (48 after malloc) with the member inline up to 23
//! bytes, plus 8-16 bytes of bucket: ~61 bytes (Redis 7.0: 24-byte
//! dictEntry + sds + bucket, ~61 with jemalloc for a 10-byte member).

use crate::dict::{self, Dict};
use crate::listpack::{self, Listpack};
use crate::num::{format_i64, parse_i64, MAX_I64_CHARS};
use crate::sample::{
    dict_random, dict_random_with_count, dict_scan, distinct_indices, random_with_count, Rng,
};

/// An intset with more members than this becomes a hashtable
/// (`set-max-intset-entries`).
pub const SET_MAX_INTSET_ENTRIES: usize = 512;
/// A listpack set with more members than this becomes a hashtable
/// (`set-max-listpack-entries`).
pub const SET_MAX_LISTPACK_ENTRIES: usize = 128;
/// A member longer than this forces a hashtable (`set-max-listpack-value`).
pub const SET_MAX_LISTPACK_VALUE: usize = 64;

/// A set value; see the module docs.
#[derive(Clone)]
pub struct Set {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    I16(Box<[i16]>),
    I32(Box<[i32]>),
    I64(Box<[i64]>),
    Pack(Listpack),
    Table(Box<Dict<()>>),
}

const _: () = assert!(std::mem::size_of::<Set>() == 32);
/// Values move between shards and into snapshots.
const _: () = {
    const fn clone_send<T: Clone + Send + Sync>() {}
    clone_send::<Set>()
};

/// A member as stored: bytes, or an intset integer (format it to get its
/// bytes; it is the canonical decimal form that was added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (formatting an integer on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Member::Bytes(b) => f(b),
            Member::Int(v) => f(format_i64(&mut [0u8; MAX_I64_CHARS], v)),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

impl Default for Set {
    fn default() -> Self {
        Self::new()
    }
}

/// Boxed-slice surgery for the intset: one exact reallocation per change,
/// as Redis's `intsetResize`.
fn box_insert<T: Copy>(b: &mut Box<[T]>, pos: usize, v: T) {
    let mut vec = std::mem::take(b).into_vec();
    vec.reserve_exact(1);
    vec.insert(pos, v);
    *b = vec.into_boxed_slice();
}

fn box_remove<T: Copy>(b: &mut Box<[T]>, pos: usize) -> T {
    let mut vec = std::mem::take(b).into_vec();
    let v = vec.remove(pos);
    *b = vec.into_boxed_slice();
    v
}

fn widen<T: Copy + Into<i64>>(b: &[T]) -> Box<[i64]> {
    b.iter().map(|&x| x.into()).collect()
}

fn lp_find(lp: &Listpack, m: &[u8]) -> Option<(usize, usize)> {
    let mut it = lp.iter();
    loop {
        let off = it.offset();
        if it.next()? == m {
            return Some((off, it.offset()));
        }
    }
}

impl Set {
    /// An empty set (an intset that allocates nothing yet).
    pub fn new() -> Self {
        Set {
            repr: Repr::I16(Box::default()),
        }
    }

    /// An empty set in the encoding Redis 7.2 picks for a SADD of
    /// `size_hint` members whose first is `first` (`setTypeCreate`): intset
    /// for an integer when the hint fits, else listpack when it fits, else a
    /// hashtable sized for the hint.
    pub fn with_hint(first: &[u8], size_hint: usize) -> Self {
        if parse_i64(first).is_some() && size_hint <= SET_MAX_INTSET_ENTRIES {
            Self::new()
        } else if size_hint <= SET_MAX_LISTPACK_ENTRIES {
            Set {
                repr: Repr::Pack(Listpack::new()),
            }
        } else {
            Set {
                repr: Repr::Table(Box::new(Dict::with_capacity(size_hint))),
            }
        }
    }

    /// SCARD.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::I16(b) => b.len(),
            Repr::I32(b) => b.len(),
            Repr::I64(b) => b.len(),
            Repr::Pack(lp) => lp.len(),
            Repr::Table(d) => d.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING: "intset", "listpack" or "hashtable".
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::I16(_) | Repr::I32(_) | Repr::I64(_) => "intset",
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Estimated bytes this value holds, inline part included. O(1).
    pub fn mem_usage(&self) -> usize {
        let ms = crate::malloc_size;
        std::mem::size_of::<Self>()
            + match &self.repr {
                Repr::I16(b) => ms(b.len() * 2),
                Repr::I32(b) => ms(b.len() * 4),
                Repr::I64(b) => ms(b.len() * 8),
                Repr::Pack(lp) => lp.heap_bytes(),
                Repr::Table(d) => ms(std::mem::size_of::<Dict<()>>()) + d.heap_bytes(),
            }
    }

    fn int_contains(&self, v: i64) -> bool {
        match &self.repr {
            Repr::I16(b) => i16::try_from(v).is_ok_and(|v| b.binary_search(&v).is_ok()),
            Repr::I32(b) => i32::try_from(v).is_ok_and(|v| b.binary_search(&v).is_ok()),
            Repr::I64(b) => b.binary_search(&v).is_ok(),
            _ => unreachable!("not an intset"),
        }
    }

    /// SISMEMBER.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::I16(_) | Repr::I32(_) | Repr::I64(_) => {
                parse_i64(m).is_some_and(|v| self.int_contains(v))
            }
            Repr::Pack(lp) => lp_find(lp, m).is_some(),
            Repr::Table(d) => d.contains_key(m),
        }
    }

    /// SADD of one member: true when it is new.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::I16(_) | Repr::I32(_) | Repr::I64(_) => {
                let len = self.len();
                match parse_i64(m) {
                    Some(v) => {
                        if self.int_contains(v) {
                            return false;
                        }
                        if len < SET_MAX_INTSET_ENTRIES {
                            self.int_insert(v);
                        } else {
                            self.convert_to_table(len + 1);
                            self.insert(m);
                        }
                    }
                    None => {
                        if len < SET_MAX_LISTPACK_ENTRIES && m.len() <= SET_MAX_LISTPACK_VALUE {
                            self.convert_to_pack();
                        } else {
                            self.convert_to_table(len + 1);
                        }
                        self.insert(m);
                    }
                }
                true
            }
            Repr::Pack(lp) => {
                if lp_find(lp, m).is_some() {
                    return false;
                }
                if lp.len() < SET_MAX_LISTPACK_ENTRIES && m.len() <= SET_MAX_LISTPACK_VALUE {
                    lp.push(m);
                } else {
                    let n = lp.len() + 1;
                    self.convert_to_table(n);
                    self.insert(m);
                }
                true
            }
            Repr::Table(d) => d.insert(m, ()).is_none(),
        }
    }

    /// Adds an integer known to be absent, widening the intset if needed.
    fn int_insert(&mut self, v: i64) {
        if let Repr::I16(b) = &self.repr {
            if i16::try_from(v).is_err() {
                let w: Box<[i32]> = b.iter().map(|&x| i32::from(x)).collect();
                self.repr = Repr::I32(w);
            }
        }
        if let Repr::I32(b) = &self.repr {
            if i32::try_from(v).is_err() {
                self.repr = Repr::I64(widen(b));
            }
        }
        match &mut self.repr {
            Repr::I16(b) => {
                let v = v as i16;
                let pos = b.binary_search(&v).unwrap_err();
                box_insert(b, pos, v);
            }
            Repr::I32(b) => {
                let v = v as i32;
                let pos = b.binary_search(&v).unwrap_err();
                box_insert(b, pos, v);
            }
            Repr::I64(b) => {
                let pos = b.binary_search(&v).unwrap_err();
                box_insert(b, pos, v);
            }
            _ => unreachable!("not an intset"),
        }
    }

    fn convert_to_pack(&mut self) {
        let mut lp = Listpack::new();
        self.for_each(|m| lp.push(m));
        self.repr = Repr::Pack(lp);
    }

    fn convert_to_table(&mut self, capacity: usize) {
        let mut d = Dict::with_capacity(capacity);
        self.for_each(|m| {
            d.insert(m, ());
        });
        self.repr = Repr::Table(Box::new(d));
    }

    /// SREM of one member: true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::I16(_) | Repr::I32(_) | Repr::I64(_) => match parse_i64(m) {
                Some(v) => match self.int_position(v) {
                    Some(i) => {
                        self.int_remove_at(i);
                        true
                    }
                    None => false,
                },
                None => false,
            },
            Repr::Pack(lp) => match lp_find(lp, m) {
                Some((s, e)) => {
                    lp.replace(s, e, 1, &[]);
                    true
                }
                None => false,
            },
            Repr::Table(d) => d.remove(m).is_some(),
        }
    }

    fn int_position(&self, v: i64) -> Option<usize> {
        match &self.repr {
            Repr::I16(b) => b.binary_search(&i16::try_from(v).ok()?).ok(),
            Repr::I32(b) => b.binary_search(&i32::try_from(v).ok()?).ok(),
            Repr::I64(b) => b.binary_search(&v).ok(),
            _ => None,
        }
    }

    fn int_remove_at(&mut self, i: usize) -> i64 {
        match &mut self.repr {
            Repr::I16(b) => box_remove(b, i).into(),
            Repr::I32(b) => box_remove(b, i).into(),
            Repr::I64(b) => box_remove(b, i),
            _ => unreachable!("not an intset"),
        }
    }

    /// The member at position `i` of an intset or listpack.
    fn member_at(&self, i: usize) -> Member<'_> {
        match &self.repr {
            Repr::I16(b) => Member::Int(b[i].into()),
            Repr::I32(b) => Member::Int(b[i].into()),
            Repr::I64(b) => Member::Int(b[i]),
            Repr::Pack(lp) => Member::Bytes(lp.entry_at(lp.offset_of(i)).0),
            Repr::Table(_) => unreachable!("no positions in a hashtable"),
        }
    }

    /// SMEMBERS: sorted for an intset, insertion order for a listpack,
    /// unspecified for a hashtable.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::I16(b) => IterInner::I16(b.iter()),
                Repr::I32(b) => IterInner::I32(b.iter()),
                Repr::I64(b) => IterInner::I64(b.iter()),
                Repr::Pack(lp) => IterInner::Pack(lp.iter()),
                Repr::Table(d) => IterInner::Table(d.iter()),
            },
        }
    }

    /// Calls `f` with every member's bytes.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        for m in self.iter() {
            m.with_bytes(&mut f);
        }
    }

    /// Every member, copied out.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(|m| m.to_vec()).collect()
    }

    /// SRANDMEMBER without a count.
    pub fn random(&self, rng: &mut Rng) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        match &self.repr {
            Repr::Table(d) => dict_random(d, rng).map(|(k, _)| Member::Bytes(k)),
            _ => Some(self.member_at(rng.below(self.len()))),
        }
    }

    /// SRANDMEMBER with a count, calling `f` once per reply item: `|count|`
    /// independent picks when negative, otherwise `min(count, len)` distinct
    /// members.
    pub fn random_with_count(&self, count: i64, rng: &mut Rng, mut f: impl FnMut(&[u8])) {
        match &self.repr {
            Repr::Table(d) => dict_random_with_count(d, count, rng, |k, _| f(k)),
            Repr::Pack(lp) => {
                let offs: Vec<usize> = {
                    let mut it = lp.iter();
                    let mut v = Vec::with_capacity(lp.len());
                    while it.offset() < lp.end_offset() {
                        v.push(it.offset());
                        it.next();
                    }
                    v
                };
                random_with_count(offs.len(), count, rng, |i| f(lp.entry_at(offs[i]).0));
            }
            _ => random_with_count(self.len(), count, rng, |i| {
                self.member_at(i).with_bytes(&mut f)
            }),
        }
    }

    /// SPOP without a count: removes and returns a random member.
    pub fn pop(&mut self, rng: &mut Rng) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        match &mut self.repr {
            Repr::Table(d) => {
                let key = dict_random(d, rng)?.0.to_vec();
                d.remove(&key);
                Some(key)
            }
            Repr::Pack(lp) => {
                let s = lp.offset_of(rng.below(lp.len()));
                let (m, e) = lp.entry_at(s);
                let m = m.to_vec();
                lp.replace(s, e, 1, &[]);
                Some(m)
            }
            _ => {
                let v = self.int_remove_at(rng.below(self.len()));
                Some(format_i64(&mut [0u8; MAX_I64_CHARS], v).to_vec())
            }
        }
    }

    /// SPOP with a count: removes and returns `min(count, len)` distinct
    /// random members, in no particular order.
    pub fn pop_count(&mut self, count: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
        let len = self.len();
        if count >= len {
            let all = self.to_vecs();
            *self = Set {
                repr: Repr::I16(Box::default()),
            };
            return all;
        }
        match &self.repr {
            Repr::Table(_) => (0..count).filter_map(|_| self.pop(rng)).collect(),
            _ => {
                // One pass: pick positions, copy them out, rebuild the rest.
                let picks = distinct_indices(len, count, rng);
                let mut out = Vec::with_capacity(count);
                let mut keep = Vec::with_capacity(len - count);
                let mut next = picks.iter().peekable();
                for (i, m) in self.iter().enumerate() {
                    if next.peek() == Some(&&i) {
                        next.next();
                        out.push(m.to_vec());
                    } else {
                        keep.push(m);
                    }
                }
                let rest = match &self.repr {
                    Repr::I16(_) => Repr::I16(keep.iter().map(|m| int_of(m) as i16).collect()),
                    Repr::I32(_) => Repr::I32(keep.iter().map(|m| int_of(m) as i32).collect()),
                    Repr::I64(_) => Repr::I64(keep.iter().map(int_of).collect()),
                    Repr::Pack(_) => {
                        let mut lp = Listpack::new();
                        for m in &keep {
                            m.with_bytes(|b| lp.push(b));
                        }
                        Repr::Pack(lp)
                    }
                    Repr::Table(_) => unreachable!(),
                };
                self.repr = rest;
                out
            }
        }
    }

    /// SSCAN step: calls `f` on about `count` members from `cursor` on and
    /// returns the next cursor (0: done). An intset or listpack returns
    /// everything at once with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Table(d) => dict_scan(d, cursor, count, |k, _| f(k)),
            _ => {
                self.for_each(f);
                0
            }
        }
    }

    /// SINTER / SINTERSTORE: members in every set (an empty slice gives an
    /// empty set). Walks the smallest set and probes the others, as Redis.
    pub fn inter(sets: &[&Set]) -> Set {
        let mut out = Set::new();
        Self::inter_walk(sets, usize::MAX, |m| {
            out.insert(m);
        });
        out
    }

    /// SINTERCARD: how many members are in every set, counting stops at
    /// `limit` (0: no limit).
    pub fn inter_card(sets: &[&Set], limit: usize) -> usize {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut n = 0;
        Self::inter_walk(sets, limit, |_| n += 1);
        n
    }

    fn inter_walk(sets: &[&Set], limit: usize, mut f: impl FnMut(&[u8])) {
        if sets.is_empty() || sets.iter().any(|s| s.is_empty()) {
            return;
        }
        let mut order: Vec<&Set> = sets.to_vec();
        order.sort_by_key(|s| s.len());
        let mut found = 0;
        for m in order[0].iter() {
            if found >= limit {
                return;
            }
            m.with_bytes(|b| {
                if order[1..].iter().all(|s| s.contains(b)) {
                    found += 1;
                    f(b);
                }
            });
        }
    }

    /// SUNION / SUNIONSTORE: members in any set.
    pub fn union(sets: &[&Set]) -> Set {
        let mut out = Set::new();
        for s in sets {
            s.for_each(|m| {
                out.insert(m);
            });
        }
        out
    }

    /// SDIFF / SDIFFSTORE: members of `first` in none of `others`.
    pub fn diff(first: &Set, others: &[&Set]) -> Set {
        let mut out = Set::new();
        first.for_each(|m| {
            if !others.iter().any(|s| s.contains(m)) {
                out.insert(m);
            }
        });
        out
    }
}

fn int_of(m: &Member<'_>) -> i64 {
    match *m {
        Member::Int(v) => v,
        Member::Bytes(_) => unreachable!("intset member"),
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(
                self.iter()
                    .map(|m| String::from_utf8_lossy(&m.to_vec()).into_owned()),
            )
            .finish()
    }
}

/// Iterator over a set's members.
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    I16(std::slice::Iter<'a, i16>),
    I32(std::slice::Iter<'a, i32>),
    I64(std::slice::Iter<'a, i64>),
    Pack(listpack::Iter<'a>),
    Table(dict::Iter<'a, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match &mut self.inner {
            IterInner::I16(it) => it.next().map(|&v| Member::Int(v.into())),
            IterInner::I32(it) => it.next().map(|&v| Member::Int(v.into())),
            IterInner::I64(it) => it.next().map(|&v| Member::Int(v)),
            IterInner::Pack(it) => it.next().map(Member::Bytes),
            IterInner::Table(it) => it.next().map(|(k, _)| Member::Bytes(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Rng;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn set_of(items: &[&str]) -> Set {
        let mut s = Set::new();
        for i in items {
            s.insert(i.as_bytes());
        }
        s
    }

    fn sorted(s: &Set) -> Vec<String> {
        let mut v: Vec<String> = s
            .to_vecs()
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn intset_widens_and_stays_sorted() {
        let mut s = Set::new();
        assert!(s.insert(b"5"));
        assert!(s.insert(b"-3"));
        assert!(!s.insert(b"5"));
        assert!(matches!(s.repr, Repr::I16(_)));
        assert!(s.insert(b"100000"));
        assert!(matches!(s.repr, Repr::I32(_)));
        assert!(s.insert(b"-9223372036854775808"));
        assert!(matches!(s.repr, Repr::I64(_)));
        assert_eq!(
            s.to_vecs(),
            ["-9223372036854775808", "-3", "5", "100000"].map(|x| x.as_bytes().to_vec())
        );
        assert!(s.contains(b"100000"));
        assert!(!s.contains(b"0100000"));
        assert!(s.remove(b"-3"));
        assert!(!s.remove(b"-3"));
        assert!(!s.remove(b"abc"));
        assert_eq!(s.encoding_name(), "intset");
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn encoding_transitions_follow_redis_7_2() {
        // Non-canonical integers are strings.
        let mut s = set_of(&["1", "2"]);
        s.insert(b"01");
        assert_eq!(s.encoding_name(), "listpack");
        assert!(s.contains(b"1") && s.contains(b"01"));
        // Intset past 512 -> hashtable.
        let mut s = Set::new();
        for i in 0..SET_MAX_INTSET_ENTRIES {
            s.insert(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding_name(), "intset");
        s.insert(b"100000");
        assert_eq!(s.encoding_name(), "hashtable");
        // Big intset + a string -> hashtable directly.
        let mut s = Set::new();
        for i in 0..200 {
            s.insert(i.to_string().as_bytes());
        }
        s.insert(b"x");
        assert_eq!(s.encoding_name(), "hashtable");
        // Listpack past 128 or with a long member -> hashtable.
        let mut s = Set::new();
        for i in 0..SET_MAX_LISTPACK_ENTRIES {
            s.insert(format!("m{i}").as_bytes());
        }
        assert_eq!(s.encoding_name(), "listpack");
        s.insert(b"m0");
        assert_eq!(s.encoding_name(), "listpack");
        s.insert(b"one-more");
        assert_eq!(s.encoding_name(), "hashtable");
        let mut s = set_of(&["a"]);
        s.insert(&[b'z'; SET_MAX_LISTPACK_VALUE + 1]);
        assert_eq!(s.encoding_name(), "hashtable");
        assert_eq!(Set::with_hint(b"1", 10).encoding_name(), "intset");
        assert_eq!(Set::with_hint(b"a", 10).encoding_name(), "listpack");
        assert_eq!(Set::with_hint(b"a", 200).encoding_name(), "hashtable");
    }

    #[test]
    fn algebra() {
        let a = set_of(&["1", "2", "3", "x"]);
        let b = set_of(&["2", "3", "4"]);
        let c = set_of(&["3", "x", "2"]);
        assert_eq!(sorted(&Set::inter(&[&a, &b, &c])), ["2", "3"]);
        assert_eq!(Set::inter(&[&a, &b, &c]).encoding_name(), "intset");
        assert_eq!(Set::inter_card(&[&a, &b, &c], 0), 2);
        assert_eq!(Set::inter_card(&[&a, &b, &c], 1), 1);
        assert_eq!(sorted(&Set::union(&[&a, &b])), ["1", "2", "3", "4", "x"]);
        assert_eq!(sorted(&Set::diff(&a, &[&b])), ["1", "x"]);
        assert_eq!(sorted(&Set::diff(&a, &[])), ["1", "2", "3", "x"]);
        assert!(Set::inter(&[&a, &Set::new()]).is_empty());
        assert!(Set::inter(&[]).is_empty());
    }

    /// Every member is as likely as any other in every encoding: SRANDMEMBER
    /// with a negative count, without a count, and the members a positive
    /// count picks (not independent within a reply, which only makes the
    /// statistic smaller), each over about 1000 draws per member,
    /// chi-square tested.
    #[test]
    fn random_draws_are_uniform() {
        use crate::sample::uniformity::check;
        let mut rng = Rng::new(0x5eed_0002);
        for members in [
            (0..200).map(|i| (i * 7).to_string()).collect::<Vec<_>>(),
            (0..100).map(|i| format!("member:{i}")).collect(),
            (0..200).map(|i| format!("member:{i}")).collect(),
        ] {
            let items: Vec<Vec<u8>> = members.iter().map(|m| m.clone().into_bytes()).collect();
            let mut s = Set::new();
            for m in &items {
                s.insert(m);
            }
            let enc = s.encoding_name();
            let n = items.len() as i64;
            let draws = 1000 * n;
            check(&format!("SRANDMEMBER -{draws}, {enc}"), &items, |hit| {
                s.random_with_count(-draws, &mut rng, |m| hit(m))
            });
            // Fewer draws than members per call: one sampling loop each.
            let few = n / 2;
            check(
                &format!("SRANDMEMBER -{few} x{}, {enc}", draws / few),
                &items,
                |hit| {
                    for _ in 0..draws / few {
                        s.random_with_count(-few, &mut rng, |m| hit(m));
                    }
                },
            );
            check(&format!("SRANDMEMBER x{draws}, {enc}"), &items, |hit| {
                for _ in 0..draws {
                    s.random(&mut rng).unwrap().with_bytes(&mut *hit);
                }
            });
            for k in [10, n / 2] {
                check(&format!("SRANDMEMBER {k}, {enc}"), &items, |hit| {
                    for _ in 0..draws / k {
                        s.random_with_count(k, &mut rng, |m| hit(m));
                    }
                });
            }
        }
    }

    #[test]
    fn pop_and_random_in_every_encoding() {
        let mut rng = Rng::new(5);
        for members in [
            (0..20).map(|i| i.to_string()).collect::<Vec<_>>(),
            (0..20).map(|i| format!("m{i}")).collect(),
            (0..300).map(|i| format!("m{i}")).collect(),
        ] {
            let mut s = Set::new();
            for m in &members {
                s.insert(m.as_bytes());
            }
            let all: HashSet<Vec<u8>> = members.iter().map(|m| m.as_bytes().to_vec()).collect();
            assert!(all.contains(&s.random(&mut rng).unwrap().to_vec()));
            for count in [-30i64, 0, 1, 5, 19, 20, 400] {
                let mut got = Vec::new();
                s.random_with_count(count, &mut rng, |m| got.push(m.to_vec()));
                assert_eq!(got.len(), crate::sample::random_reply_len(count, s.len()));
                assert!(got.iter().all(|m| all.contains(m)));
                if count > 0 {
                    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
                }
            }
            let p = s.pop(&mut rng).unwrap();
            assert!(all.contains(&p) && !s.contains(&p));
            let popped = s.pop_count(7, &mut rng);
            assert_eq!(popped.len(), 7);
            assert_eq!(popped.iter().collect::<HashSet<_>>().len(), 7);
            assert!(popped.iter().all(|m| all.contains(m) && !s.contains(m)));
            assert_eq!(s.len(), members.len() - 8);
            let rest = s.pop_count(1000, &mut rng);
            assert_eq!(rest.len(), members.len() - 8);
            assert!(s.is_empty());
            assert_eq!(s.pop(&mut rng), None);
        }
    }

    fn scan_all(s: &Set) -> HashSet<Vec<u8>> {
        let mut out = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 10, |m| {
                out.insert(m.to_vec());
            });
            if cursor == 0 {
                return out;
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>),
        Rem(Vec<u8>),
        Has(Vec<u8>),
        Pop,
        PopCount(usize),
        Members,
        Scan,
    }

    /// Model of the encoding rules: which encoding Redis 7.2 would be in.
    fn next_encoding(enc: &'static str, len_before: usize, m: &[u8]) -> &'static str {
        let is_int = parse_i64(m).is_some();
        let fits_pack = len_before < SET_MAX_LISTPACK_ENTRIES && m.len() <= SET_MAX_LISTPACK_VALUE;
        match enc {
            "intset" if is_int && len_before < SET_MAX_INTSET_ENTRIES => "intset",
            "intset" if is_int => "hashtable",
            "intset" | "listpack" if fits_pack => "listpack",
            _ => "hashtable",
        }
    }

    fn ops(member: BoxedStrategy<Vec<u8>>, max_len: usize) -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            12 => member.clone().prop_map(Op::Add),
            3 => member.clone().prop_map(Op::Rem),
            3 => member.prop_map(Op::Has),
            1 => Just(Op::Pop),
            1 => (0usize..6).prop_map(Op::PopCount),
            1 => Just(Op::Members),
            1 => Just(Op::Scan),
        ];
        prop::collection::vec(op, 1..max_len)
    }

    fn int_member() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            8 => (-1000i64..1000).prop_map(|i| i.to_string().into_bytes()),
            1 => any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        ]
        .boxed()
    }

    fn mixed_member() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            4 => (-100i64..100).prop_map(|i| i.to_string().into_bytes()),
            4 => (0u32..200).prop_map(|i| format!("w{i}").into_bytes()),
            1 => prop::sample::select(vec![b"01".to_vec(), b"+1".to_vec(), b"-0".to_vec(), b"".to_vec()]),
            1 => (0u8..3).prop_map(|i| vec![b'L' + i; 65]),
        ]
        .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

        #[test]
        fn set_matches_hashset_model(ops in prop_oneof![ops(int_member(), 1500), ops(mixed_member(), 600)], seed in any::<u64>()) {
            let mut rng = Rng::new(seed);
            let mut s = Set::new();
            let mut m: HashSet<Vec<u8>> = HashSet::new();
            let mut enc = "intset";
            for op in ops {
                match op {
                    Op::Add(x) => {
                        let new = !m.contains(&x);
                        if new { enc = next_encoding(enc, m.len(), &x); }
                        prop_assert_eq!(s.insert(&x), new);
                        m.insert(x);
                    }
                    Op::Rem(x) => prop_assert_eq!(s.remove(&x), m.remove(&x)),
                    Op::Has(x) => prop_assert_eq!(s.contains(&x), m.contains(&x)),
                    Op::Pop => {
                        let p = s.pop(&mut rng);
                        prop_assert_eq!(p.is_some(), !m.is_empty());
                        if let Some(p) = p { prop_assert!(m.remove(&p)); }
                    }
                    Op::PopCount(n) => {
                        let was_empty_after = n >= m.len();
                        let p = s.pop_count(n, &mut rng);
                        prop_assert_eq!(p.len(), n.min(m.len()));
                        for x in p { prop_assert!(m.remove(&x)); }
                        if was_empty_after { enc = "intset"; }
                    }
                    Op::Members => {
                        let got: HashSet<Vec<u8>> = s.to_vecs().into_iter().collect();
                        prop_assert_eq!(&got, &m);
                        if enc == "intset" {
                            let v: Vec<i64> = s.to_vecs().iter().map(|b| parse_i64(b).unwrap()).collect();
                            prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
                        }
                    }
                    Op::Scan => prop_assert_eq!(scan_all(&s), m.clone()),
                }
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.encoding_name(), enc);
            }
        }
    }
}
