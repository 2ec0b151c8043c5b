//! [`SmallBytes`]: an immutable byte string in 24 bytes that keeps up to 23
//! bytes inline and longer ones in one exact-size heap allocation.
//!
//! The inline form's length byte is an enum of `0..=23`, so its 232 unused
//! values are a niche: the heap form, and the variants of every enum that
//! wraps a `SmallBytes` (`StrValue`, `Value`), are told apart through it and
//! cost no extra tag byte. Dict keys and short string values use this type.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest byte string kept inline.
pub const INLINE_CAP: usize = 23;

/// A length in `0..=INLINE_CAP`; the other 232 byte values are a niche.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
enum InlineLen {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11,
    L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22, L23,
}

#[rustfmt::skip]
const LENS: [InlineLen; INLINE_CAP + 1] = {
    use InlineLen::*;
    [L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11,
     L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22, L23]
};

#[derive(Clone)]
enum Repr {
    Inline {
        len: InlineLen,
        buf: [u8; INLINE_CAP],
    },
    Heap(Box<[u8]>),
}

/// An immutable byte string: inline up to [`INLINE_CAP`] bytes, otherwise
/// one heap allocation of exactly its length.
#[derive(Clone)]
pub struct SmallBytes(Repr);

const _: () = assert!(std::mem::size_of::<SmallBytes>() == 24);
const _: () = assert!(std::mem::size_of::<Option<SmallBytes>>() == 24);

impl SmallBytes {
    #[inline]
    pub fn new(s: &[u8]) -> Self {
        if s.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..s.len()].copy_from_slice(s);
            SmallBytes(Repr::Inline {
                len: LENS[s.len()],
                buf,
            })
        } else {
            SmallBytes(Repr::Heap(s.into()))
        }
    }

    /// Takes ownership of `v`'s buffer when it is too long to inline
    /// (shrinking it to its length, which may reallocate).
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_CAP {
            Self::new(&v)
        } else {
            SmallBytes(Repr::Heap(v.into_boxed_slice()))
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Heap(b) => b,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline { len, .. } => *len as usize,
            Repr::Heap(b) => b.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the bytes live inline (no heap allocation).
    #[inline]
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The bytes when they live on the heap (a string longer than
    /// [`INLINE_CAP`]), for a cache hint; `None` when inline.
    #[inline]
    pub fn heap_bytes_at(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Inline { .. } => None,
            Repr::Heap(b) => Some(b),
        }
    }

    /// Bytes this string holds on the heap, allocator overhead included.
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => crate::malloc_size(b.len()),
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { len, buf } => buf[..len as usize].to_vec(),
            Repr::Heap(b) => b.into_vec(),
        }
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        SmallBytes::new(b"")
    }
}

impl std::ops::Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for SmallBytes {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(s: &[u8]) -> Self {
        SmallBytes::new(s)
    }
}

impl From<Vec<u8>> for SmallBytes {
    fn from(v: Vec<u8>) -> Self {
        SmallBytes::from_vec(v)
    }
}

impl PartialEq for SmallBytes {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SmallBytes {}

impl PartialEq<[u8]> for SmallBytes {
    #[inline]
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// Hashes exactly like the `[u8]` it holds, so lookups by `&[u8]` agree.
impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl std::borrow::Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_up_to_cap_then_heap() {
        for n in 0..=64 {
            let v: Vec<u8> = (0..n as u8).collect();
            let s = SmallBytes::new(&v);
            assert_eq!(s.as_bytes(), &v[..]);
            assert_eq!(s.len(), n);
            assert_eq!(s.is_inline(), n <= INLINE_CAP);
            assert_eq!(s.heap_bytes() == 0, n <= INLINE_CAP);
            assert_eq!(SmallBytes::from_vec(v.clone()), s);
            assert_eq!(s.clone().into_vec(), v);
        }
    }

    #[test]
    fn hashes_like_a_slice() {
        let rs = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let s = SmallBytes::new(b"hello");
        assert_eq!(rs.hash_one(&s), rs.hash_one(&b"hello"[..]));
    }
}
