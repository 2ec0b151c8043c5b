//! [`Value`]: what a key holds. One variant per Redis type; each type's
//! encodings live inside its variant, chosen like Redis chooses them, so
//! OBJECT ENCODING can report them. `Value` is 32 bytes: a 24-byte payload
//! and the tag. Hashes sit inline (many small hashes are the common case,
//! and this saves them an allocation); lists, sets and sorted sets are
//! boxed.
//!
//! Code that only cares about strings goes through [`Value::as_str`] /
//! [`Value::as_str_mut`] (`None` for other types, i.e. WRONGTYPE), so adding
//! a variant only touches the exhaustive matches in this file.

use crate::bytes::{SmallBytes, INLINE_CAP};
use crate::hash::Hash;
use crate::list::List;
use crate::num;
use crate::set::Set;
use crate::stream::Stream;
use crate::zset::ZSet;

/// Largest string Redis accepts by default (`proto-max-bulk-len`, 512 MB).
pub const MAX_STRING_LEN: usize = 512 * 1024 * 1024;

/// Longest string Redis stores as `embstr` (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
const EMBSTR_LIMIT: usize = 44;

/// A key's value.
#[derive(Clone)]
pub enum Value {
    Str(StrValue),
    /// Inline: the common small hash then costs no allocation beyond its
    /// listpack (inside the 80-byte key node).
    Hash(Hash),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 32);

/// A boxed `T` whose `mem_usage` (the struct and what it owns) is `usage`:
/// the box's allocation in place of the struct's size.
fn boxed<T>(usage: usize) -> usize {
    crate::malloc_size(std::mem::size_of::<T>()) + usage - std::mem::size_of::<T>()
}

impl Value {
    /// The bytes a lookup reads next, when they live outside the key's
    /// node (a string longer than 23 bytes, a small hash's listpack):
    /// where a lookup that found the node misses the cache once more. For
    /// [`crate::Store::prefetch_keys`].
    #[inline]
    pub(crate) fn out_of_line(&self) -> Option<&[u8]> {
        match self {
            Value::Str(StrValue::Bytes(b)) => b.heap_bytes_at(),
            Value::Str(StrValue::Raw(v)) => Some(v),
            Value::Hash(h) => h.pack_bytes(),
            _ => None,
        }
    }

    /// A string value from command input, integer-encoded when `b` is the
    /// canonical form of an `i64` (Redis's `tryObjectEncoding`).
    #[inline]
    pub fn string(b: &[u8]) -> Value {
        Value::Str(StrValue::from_input(b))
    }

    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The smallest value of the same type: a key's stand-in where only
    /// its name and type matter (a copy of a keyspace's names). A
    /// collection holds one empty element, since an empty one is deleted.
    pub fn stub(&self) -> Value {
        match self {
            Value::Str(_) => Value::string(b""),
            Value::Hash(_) => {
                let mut h = crate::hash::Hash::new();
                h.set(b"", b"");
                Value::Hash(h)
            }
            Value::List(_) => {
                let mut l = crate::list::List::new();
                l.push_back(b"");
                Value::List(Box::new(l))
            }
            Value::Set(_) => {
                let mut s = crate::set::Set::new();
                s.insert(b"");
                Value::Set(Box::new(s))
            }
            Value::ZSet(_) => {
                let mut z = crate::zset::ZSet::new();
                let _ = z.add(b"", 0.0, Default::default());
                Value::ZSet(Box::new(z))
            }
            Value::Stream(_) => Value::Stream(Box::default()),
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Set(x) => x.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
        }
    }

    /// Heap bytes the value owns (allocator overhead included, estimated).
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        match self {
            // The update path asks on every write; a string held inside the
            // entry answers without a call.
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Bytes(b)) if b.is_inline() => 0,
            _ => self.heap_bytes_owned(),
        }
    }

    fn heap_bytes_owned(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            // The hash sits in the entry: what it owns. A boxed collection:
            // its box plus what it owns (its `mem_usage` counts the struct
            // itself, which the box holds).
            Value::Hash(h) => h.mem_usage() - std::mem::size_of::<Hash>(),
            Value::List(l) => boxed::<List>(l.mem_usage()),
            Value::Set(x) => boxed::<Set>(x.mem_usage()),
            Value::ZSet(z) => boxed::<ZSet>(z.mem_usage()),
            Value::Stream(x) => crate::malloc_size(std::mem::size_of::<Stream>()) + x.mem_usage(),
        }
    }

    /// A hash, list, set or sorted set with no elements: a state a key
    /// never stays in (Redis deletes the key), so the update path deletes
    /// it.
    #[inline]
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(x) => x.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // An empty stream stays (Redis keeps it: its ids and groups
            // outlive its entries).
            Value::Stream(_) => false,
        }
    }

    /// The string, or `None` when the value is another type.
    #[inline]
    pub fn as_str(&self) -> Option<&StrValue> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    #[inline]
    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_str() {
            Some(s) => write!(f, "Str({s:?})"),
            None => write!(f, "<{}>", self.type_name()),
        }
    }
}

/// A string value in one of Redis's three encodings.
#[derive(Clone)]
pub enum StrValue {
    /// The canonical decimal form of an `i64` ("int").
    Int(i64),
    /// Bytes as written by SET and friends, inline up to 23 bytes ("embstr"
    /// up to 44 bytes, "raw" beyond).
    Bytes(SmallBytes),
    /// A string grown in place by APPEND or SETRANGE, with spare capacity
    /// ("raw"). Boxed so that `StrValue` stays 24 bytes.
    #[allow(clippy::box_collection)]
    Raw(Box<Vec<u8>>),
}

const _: () = assert!(std::mem::size_of::<StrValue>() == 24);

impl StrValue {
    /// Integer-encodes canonical integers of up to 20 characters, like
    /// Redis's `tryObjectEncoding`; otherwise stores the bytes.
    #[inline]
    pub fn from_input(b: &[u8]) -> StrValue {
        if b.len() <= num::MAX_I64_CHARS {
            if let Some(n) = num::parse_i64(b) {
                return StrValue::Int(n);
            }
        }
        StrValue::Bytes(SmallBytes::new(b))
    }

    /// Stores the bytes as they are (never integer-encoded).
    #[inline]
    pub fn from_bytes(b: &[u8]) -> StrValue {
        StrValue::Bytes(SmallBytes::new(b))
    }

    /// Length in bytes (for an integer, of its decimal form).
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => num::i64_len(*n),
            StrValue::Bytes(b) => b.len(),
            StrValue::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes; an integer is formatted into `buf`.
    #[inline]
    pub fn as_bytes<'a>(&'a self, buf: &'a mut [u8; num::MAX_I64_CHARS]) -> &'a [u8] {
        match self {
            StrValue::Int(n) => num::format_i64(buf, *n),
            StrValue::Bytes(b) => b.as_bytes(),
            StrValue::Raw(v) => v,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = [0u8; num::MAX_I64_CHARS];
        self.as_bytes(&mut buf).to_vec()
    }

    /// The value as an integer, as Redis's `getLongLongFromObject`.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Bytes(b) => num::parse_i64(b),
            StrValue::Raw(v) => num::parse_i64(v),
        }
    }

    /// The bytes, made growable in place (Redis's `dbUnshareStringValue`):
    /// the value becomes "raw".
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(Box::new(self.to_vec()));
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("just made raw"),
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Bytes(b) if b.len() <= EMBSTR_LIMIT => "embstr",
            StrValue::Bytes(_) | StrValue::Raw(_) => "raw",
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            StrValue::Int(_) => 0,
            StrValue::Bytes(b) => b.heap_bytes(),
            StrValue::Raw(v) => {
                crate::malloc_size(std::mem::size_of::<Vec<u8>>())
                    + crate::malloc_size(v.capacity())
            }
        }
    }
}

impl PartialEq for StrValue {
    /// Compares the bytes, whatever the encodings.
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = ([0u8; num::MAX_I64_CHARS], [0u8; num::MAX_I64_CHARS]);
        self.as_bytes(&mut a) == other.as_bytes(&mut b)
    }
}

impl Eq for StrValue {}

impl std::fmt::Debug for StrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrValue::Int(n) => write!(f, "Int({n})"),
            _ => write!(f, "{:?}", String::from_utf8_lossy(&self.to_vec())),
        }
    }
}

/// Strings of up to this many bytes need no heap allocation.
pub const STR_INLINE_CAP: usize = INLINE_CAP;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_line_bytes_are_the_ones_a_lookup_reads_next() {
        // Strings: inline up to 23 bytes (and integers), else on the heap.
        for len in [0usize, 1, 23, 24, 44, 45, 1000] {
            let b = vec![b'x'; len];
            let v = Value::string(&b);
            match v.out_of_line() {
                None => assert!(len <= 23, "{len}"),
                Some(at) => {
                    assert!(len > 23, "{len}");
                    assert_eq!(at, &b[..]);
                }
            }
        }
        assert!(Value::string(b"12345678901234567890")
            .out_of_line()
            .is_none());
        // A small hash: its listpack, holding its fields and values; a big
        // one: nothing (its table's chains are not one buffer).
        let mut h = Hash::new();
        h.set(b"field", b"value");
        let v = Value::Hash(h);
        let at = v.out_of_line().expect("a listpack");
        assert!(at.windows(5).any(|w| w == b"field") && at.windows(5).any(|w| w == b"value"));
        let mut big = Hash::new();
        for i in 0..1000 {
            big.set(format!("f{i}").as_bytes(), b"v");
        }
        assert!(Value::Hash(big).out_of_line().is_none());
    }

    #[test]
    fn encodings_follow_redis() {
        let cases: &[(&[u8], &str)] = &[
            (b"123", "int"),
            (b"-9223372036854775808", "int"),
            (b"9223372036854775808", "embstr"),
            (b"0123", "embstr"),
            (b"+1", "embstr"),
            (b" 1", "embstr"),
            (b"hello", "embstr"),
            (&[b'x'; 44], "embstr"),
            (&[b'x'; 45], "raw"),
        ];
        for (b, enc) in cases {
            let v = Value::string(b);
            assert_eq!(v.encoding_name(), *enc, "{:?}", String::from_utf8_lossy(b));
            assert_eq!(v.type_name(), "string");
            let mut buf = [0u8; 20];
            assert_eq!(v.as_str().unwrap().as_bytes(&mut buf), *b);
            assert_eq!(v.as_str().unwrap().len(), b.len());
        }
        assert_eq!(StrValue::from_bytes(b"12").encoding_name(), "embstr");
    }

    #[test]
    fn make_raw_keeps_bytes() {
        let mut s = StrValue::Int(-42);
        s.make_raw().extend_from_slice(b"x");
        assert_eq!(s.to_vec(), b"-42x");
        assert_eq!(s.encoding_name(), "raw");
        assert_eq!(s.to_i64(), None);
        assert_eq!(StrValue::from_bytes(b"77").to_i64(), Some(77));
        assert_eq!(StrValue::Int(5), StrValue::from_bytes(b"5"));
    }

    #[test]
    fn small_strings_do_not_allocate() {
        assert_eq!(Value::string(b"short").heap_bytes(), 0);
        assert_eq!(Value::string(&[b'a'; STR_INLINE_CAP]).heap_bytes(), 0);
        assert!(Value::string(&[b'a'; STR_INLINE_CAP + 1]).heap_bytes() > 0);
    }
}
