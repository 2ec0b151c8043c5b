//! Listpack: the compact encoding of small hashes, sets and sorted sets. One
//! heap buffer holds the entries back to back, each a LEB128 length followed
//! by its bytes, so a 10-byte string costs 11 bytes and a lookup is a linear
//! scan over one or two cache-line runs.
//!
//! Unlike Redis's listpack there is no per-entry back-length (hashes, sets and
//! sorted sets only ever walk forward; lists use their own bidirectional node
//! format in `list.rs`) and no integer encoding (a lookup hands back the
//! stored bytes, never a formatted number). Against Redis 7.0's listpack this
//! saves one byte per string entry and loses one to three bytes per small
//! integer stored as text, e.g. "12345" costs 6 bytes here and 4 in Redis.
//!
//! Cost: `size_of::<Listpack>()` = 24 bytes, plus the buffer (entries + at
//! most 1/8 slack), plus the allocator's rounding.

use std::fmt;

/// Byte strings stored back to back in one buffer; see the module docs.
#[derive(Clone, Default)]
pub struct Listpack {
    /// `buf[..used]` holds the entries; `buf[used..]` is zeroed slack.
    buf: Box<[u8]>,
    used: u32,
    count: u32,
}

const _: () = assert!(std::mem::size_of::<Listpack>() == 24);

impl Listpack {
    /// An empty listpack; allocates nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.count as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bytes holding the entries, for a cache hint.
    #[inline]
    pub(crate) fn entry_bytes(&self) -> &[u8] {
        &self.buf[..self.used as usize]
    }

    /// Bytes of encoded entries (without slack).
    #[inline]
    pub fn used_bytes(&self) -> usize {
        self.used as usize
    }

    /// Heap bytes held by the buffer, allocator overhead included.
    pub fn heap_bytes(&self) -> usize {
        crate::malloc_size(self.buf.len())
    }

    /// Removes every entry and frees the buffer.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// The entry starting at byte offset `off` and the offset just past it.
    #[inline]
    pub fn entry_at(&self, off: usize) -> (&[u8], usize) {
        let (len, n) = read_varint(&self.buf[off..]);
        let start = off + n;
        let end = start + len;
        (&self.buf[start..end], end)
    }

    /// Entries in order.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf[..self.used as usize],
            off: 0,
        }
    }

    /// Byte offset just past the last entry (where `push` writes).
    #[inline]
    pub fn end_offset(&self) -> usize {
        self.used as usize
    }

    /// Appends one entry.
    pub fn push(&mut self, item: &[u8]) {
        let at = self.used as usize;
        self.replace(at, at, 0, &[item]);
    }

    /// Replaces the `removed` entries that occupy bytes `start..end` by
    /// `items`, shifting what follows. `start == end, removed == 0` inserts;
    /// an empty `items` deletes.
    pub fn replace(&mut self, start: usize, end: usize, removed: usize, items: &[&[u8]]) {
        debug_assert!(start <= end && end <= self.used as usize);
        let new_len: usize = items.iter().map(|i| encoded_len(i.len())).sum();
        let old_len = end - start;
        let used = self.used as usize;
        let new_used = used - old_len + new_len;
        if new_used > self.buf.len() {
            // Grow to the allocator's size class: the class's slack costs
            // nothing (it is allocated anyway) and classes grow by at most a
            // quarter, so pushes stay amortised O(1).
            self.resize_buf(crate::malloc_size(new_used));
        }
        if new_len != old_len {
            self.buf.copy_within(end..used, start + new_len);
        }
        let mut at = start;
        for item in items {
            at += write_varint(&mut self.buf[at..], item.len());
            self.buf[at..at + item.len()].copy_from_slice(item);
            at += item.len();
        }
        if new_used < used {
            self.buf[new_used..used].fill(0);
        }
        self.used = u32::try_from(new_used).expect("listpack over 4 GiB");
        self.count = self.count - removed as u32 + items.len() as u32;
        let slack = self.buf.len() - new_used;
        if slack > 32 && slack > new_used / 4 {
            self.resize_buf(crate::malloc_size(new_used));
        }
    }

    /// Reallocates the buffer to exactly `cap` bytes (>= used), zero-filled.
    fn resize_buf(&mut self, cap: usize) {
        debug_assert!(cap >= self.used as usize);
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if cap > v.len() {
            v.reserve_exact(cap - v.len());
            v.resize(cap, 0);
        } else {
            v.truncate(cap);
        }
        self.buf = v.into_boxed_slice();
    }

    /// Byte offset of the entry with index `idx` (O(idx)), or `end_offset()`
    /// when `idx == len()`.
    pub fn offset_of(&self, idx: usize) -> usize {
        let mut it = self.iter();
        for _ in 0..idx {
            it.next();
        }
        it.offset()
    }
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Forward iterator over a listpack's entries.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iter<'a> {
    /// Byte offset of the entry the next call to `next` returns.
    #[inline]
    pub fn offset(&self) -> usize {
        self.off
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.buf.len() {
            return None;
        }
        let (len, n) = read_varint(&self.buf[self.off..]);
        let start = self.off + n;
        self.off = start + len;
        Some(&self.buf[start..self.off])
    }
}

/// Bytes a LEB128 encoding of `n` takes.
#[inline]
pub(crate) fn varint_len(n: usize) -> usize {
    match n {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => (usize::BITS as usize - n.leading_zeros() as usize).div_ceil(7),
    }
}

/// Bytes an entry of `len` payload bytes takes.
#[inline]
pub(crate) fn encoded_len(len: usize) -> usize {
    varint_len(len) + len
}

/// Writes `n` as LEB128 at the start of `out`; returns the bytes written.
#[inline]
pub(crate) fn write_varint(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// Reads a LEB128 number at the start of `buf`: (value, bytes read).
#[inline]
pub(crate) fn read_varint(buf: &[u8]) -> (usize, usize) {
    let b = buf[0];
    if b < 0x80 {
        return (b as usize, 1);
    }
    let mut n = (b & 0x7f) as usize;
    let mut shift = 7;
    let mut i = 1;
    loop {
        let b = buf[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b < 0x80 {
            return (n, i);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn varint_round_trips_at_every_width() {
        let mut buf = [0u8; 10];
        for n in [
            0usize,
            1,
            127,
            128,
            300,
            16383,
            16384,
            1 << 21,
            (1 << 28) + 5,
            usize::MAX >> 1,
        ] {
            let w = write_varint(&mut buf, n);
            assert_eq!(w, varint_len(n), "{n}");
            assert_eq!(read_varint(&buf), (n, w), "{n}");
        }
    }

    #[test]
    fn push_iter_and_replace() {
        let mut lp = Listpack::new();
        assert_eq!(lp.heap_bytes(), 0);
        lp.push(b"a");
        lp.push(b"");
        lp.push(&[7u8; 200]);
        assert_eq!(lp.len(), 3);
        assert_eq!(lp.used_bytes(), 2 + 1 + 202);
        assert_eq!(entries(&lp), vec![b"a".to_vec(), vec![], vec![7u8; 200]]);
        // Replace the middle entry by two.
        let off1 = lp.offset_of(1);
        let off2 = lp.offset_of(2);
        lp.replace(off1, off2, 1, &[b"xy", b"z"]);
        assert_eq!(
            entries(&lp),
            vec![b"a".to_vec(), b"xy".to_vec(), b"z".to_vec(), vec![7u8; 200]]
        );
        // Delete the long tail entry: the buffer shrinks.
        let off3 = lp.offset_of(3);
        lp.replace(off3, lp.end_offset(), 1, &[]);
        assert_eq!(lp.len(), 3);
        assert!(lp.heap_bytes() <= 32, "{}", lp.heap_bytes());
        assert_eq!(lp.entry_at(0), (&b"a"[..], 2));
    }
}
