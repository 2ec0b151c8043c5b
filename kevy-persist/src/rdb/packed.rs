//! Redis's packed encodings as they appear inside RDB strings: listpack
//! (written and read), intset (written and read), and the older ziplist and
//! zipmap (read only). Each decoder walks a blob already in memory with
//! every offset checked, and reports where a malformed blob went wrong.

use kevy_store::num;
use kevy_store::stream::lp;

/// One element of a packed encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl Item<'_> {
    /// The element's bytes (an integer in its decimal form).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Item::Bytes(b) => b.to_vec(),
            Item::Int(v) => num::format_i64(&mut [0u8; num::MAX_I64_CHARS], v).to_vec(),
        }
    }
}

/// A malformed blob: the offset inside it and what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackError {
    pub at: usize,
    pub what: &'static str,
}

fn bad<T>(at: usize, what: &'static str) -> Result<T, PackError> {
    Err(PackError { at, what })
}

fn slice(b: &[u8], at: usize, n: usize) -> Result<&[u8], PackError> {
    at.checked_add(n)
        .and_then(|end| b.get(at..end))
        .ok_or(PackError {
            at,
            what: "entry runs past the end",
        })
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

// ---- listpack --------------------------------------------------------------------

/// Header: total bytes (u32) and element count (u16), little-endian.
const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xff;
/// The count field saturates here; the real count is then found by walking.
const LP_COUNT_UNKNOWN: usize = 65535;

/// Builds a listpack in Redis's format, element by element.
pub struct LpWriter {
    buf: Vec<u8>,
    count: usize,
}

impl LpWriter {
    pub fn new() -> LpWriter {
        LpWriter::reuse(Vec::new())
    }

    /// Builds into `buf` (cleared), keeping its allocation.
    pub fn reuse(mut buf: Vec<u8>) -> LpWriter {
        buf.clear();
        buf.extend_from_slice(&[0; LP_HEADER]);
        LpWriter { buf, count: 0 }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes so far, with the end marker the blob will get.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Bytes of a listpack with no elements (header and end marker).
    pub const EMPTY_SIZE: usize = LP_HEADER + 1;

    /// Bytes [`push`](Self::push) adds for `s`, back-length included.
    pub fn entry_size(s: &[u8]) -> usize {
        lp::encoded_size(s)
    }

    /// Appends an element; a canonical integer is stored as one, as
    /// Redis's `lpAppend` does (the store's listpack encoder: the file
    /// holds the bytes a stream node holds).
    pub fn push(&mut self, s: &[u8]) {
        lp::encode(&mut self.buf, s);
        self.count += 1;
    }

    /// The finished blob (header filled in, end marker added).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(LP_COUNT_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

impl Default for LpWriter {
    fn default() -> Self {
        LpWriter::new()
    }
}

/// Size of the back-length that follows an entry of `l` bytes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Calls `f` on each element of listpack `b`; returns the count.
pub fn listpack_each<'a>(
    b: &'a [u8],
    mut f: impl FnMut(Item<'a>) -> Result<(), PackError>,
) -> Result<usize, PackError> {
    if b.len() < LP_HEADER + 1 {
        return bad(0, "listpack shorter than its header");
    }
    if le(&b[0..4]) as usize != b.len() {
        return bad(0, "listpack size field does not match its length");
    }
    if b[b.len() - 1] != LP_EOF {
        return bad(b.len() - 1, "listpack without its end marker");
    }
    let declared = le(&b[4..6]) as usize;
    let mut at = LP_HEADER;
    let mut count = 0;
    let end = b.len() - 1;
    while at < end {
        let e = b[at];
        let (item, len) = match e {
            0x00..=0x7f => (Item::Int(e as i64), 1),
            0x80..=0xbf => {
                let n = (e & 0x3f) as usize;
                (Item::Bytes(slice(b, at + 1, n)?), 1 + n)
            }
            0xc0..=0xdf => {
                let lo = *slice(b, at + 1, 1)?.first().unwrap_or(&0) as u64;
                let v = (((e & 0x1f) as u64) << 8) | lo;
                (Item::Int(sign_extend(v, 13)), 2)
            }
            0xe0..=0xef => {
                let lo = *slice(b, at + 1, 1)?.first().unwrap_or(&0) as usize;
                let n = (((e & 0x0f) as usize) << 8) | lo;
                (Item::Bytes(slice(b, at + 2, n)?), 2 + n)
            }
            0xf0 => {
                let n = le(slice(b, at + 1, 4)?) as usize;
                (Item::Bytes(slice(b, at + 5, n)?), 5 + n)
            }
            0xf1 => (Item::Int(sign_extend(le(slice(b, at + 1, 2)?), 16)), 3),
            0xf2 => (Item::Int(sign_extend(le(slice(b, at + 1, 3)?), 24)), 4),
            0xf3 => (Item::Int(sign_extend(le(slice(b, at + 1, 4)?), 32)), 5),
            0xf4 => (Item::Int(le(slice(b, at + 1, 8)?) as i64), 9),
            _ => return bad(at, "unknown listpack entry encoding"),
        };
        let next = at + len + backlen_size(len);
        if next > end {
            return bad(at, "listpack entry runs past the end");
        }
        f(item)?;
        count += 1;
        at = next;
    }
    if declared != LP_COUNT_UNKNOWN && declared != count {
        return bad(4, "listpack count field does not match its entries");
    }
    Ok(count)
}

// ---- intset -----------------------------------------------------------------------

/// An intset of `sorted` (ascending, distinct), in the narrowest width that
/// holds every value.
pub fn intset(sorted: &[i64]) -> Vec<u8> {
    let width: usize = match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) if lo >= i16::MIN as i64 && hi <= i16::MAX as i64 => 2,
        (Some(&lo), Some(&hi)) if lo >= i32::MIN as i64 && hi <= i32::MAX as i64 => 4,
        (None, _) => 2,
        _ => 8,
    };
    let mut b = Vec::with_capacity(8 + width * sorted.len());
    b.extend_from_slice(&(width as u32).to_le_bytes());
    b.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        b.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    b
}

/// Calls `f` on each integer of intset `b`; they must ascend strictly.
pub fn intset_each(b: &[u8], mut f: impl FnMut(i64)) -> Result<usize, PackError> {
    if b.len() < 8 {
        return bad(0, "intset shorter than its header");
    }
    let width = le(&b[0..4]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return bad(0, "intset with an unknown width");
    }
    let n = le(&b[4..8]) as usize;
    if n.checked_mul(width).and_then(|x| x.checked_add(8)) != Some(b.len()) {
        return bad(4, "intset length does not match its size");
    }
    let mut prev: Option<i64> = None;
    for i in 0..n {
        let at = 8 + i * width;
        let v = sign_extend(le(&b[at..at + width]), 8 * width as u32);
        if prev.is_some_and(|p| p >= v) {
            return bad(at, "intset not in ascending order");
        }
        prev = Some(v);
        f(v);
    }
    Ok(n)
}

// ---- ziplist (read only) ------------------------------------------------------------

const ZL_HEADER: usize = 10;
const ZL_END: u8 = 0xff;

/// Calls `f` on each element of ziplist `b`; returns the count.
pub fn ziplist_each<'a>(
    b: &'a [u8],
    mut f: impl FnMut(Item<'a>) -> Result<(), PackError>,
) -> Result<usize, PackError> {
    if b.len() < ZL_HEADER + 1 {
        return bad(0, "ziplist shorter than its header");
    }
    if le(&b[0..4]) as usize != b.len() {
        return bad(0, "ziplist size field does not match its length");
    }
    if b[b.len() - 1] != ZL_END {
        return bad(b.len() - 1, "ziplist without its end marker");
    }
    let declared = le(&b[8..10]) as usize;
    let end = b.len() - 1;
    let mut at = ZL_HEADER;
    let mut count = 0;
    while at < end {
        // The previous entry's length: one byte, or 0xfe and four bytes.
        let p = at;
        at += match b[p] {
            0xfe => 5,
            0xff => return bad(p, "ziplist entry with an invalid previous length"),
            _ => 1,
        };
        let e = *slice(b, at, 1)?.first().unwrap_or(&0);
        let (item, len) = match e >> 6 {
            0 => {
                let n = (e & 0x3f) as usize;
                (Item::Bytes(slice(b, at + 1, n)?), 1 + n)
            }
            1 => {
                let lo = *slice(b, at + 1, 1)?.first().unwrap_or(&0) as usize;
                let n = (((e & 0x3f) as usize) << 8) | lo;
                (Item::Bytes(slice(b, at + 2, n)?), 2 + n)
            }
            2 => {
                let h = slice(b, at + 1, 4)?;
                let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
                (Item::Bytes(slice(b, at + 5, n)?), 5 + n)
            }
            _ => match e {
                0xc0 => (Item::Int(sign_extend(le(slice(b, at + 1, 2)?), 16)), 3),
                0xd0 => (Item::Int(sign_extend(le(slice(b, at + 1, 4)?), 32)), 5),
                0xe0 => (Item::Int(le(slice(b, at + 1, 8)?) as i64), 9),
                0xf0 => (Item::Int(sign_extend(le(slice(b, at + 1, 3)?), 24)), 4),
                0xfe => (Item::Int(sign_extend(le(slice(b, at + 1, 1)?), 8)), 2),
                0xf1..=0xfd => (Item::Int((e & 0x0f) as i64 - 1), 1),
                _ => return bad(at, "unknown ziplist entry encoding"),
            },
        };
        if at + len > end {
            return bad(at, "ziplist entry runs past the end");
        }
        f(item)?;
        count += 1;
        at += len;
    }
    if declared != 0xffff && declared != count {
        return bad(8, "ziplist count field does not match its entries");
    }
    Ok(count)
}

// ---- zipmap (read only) ----------------------------------------------------------

/// Calls `f` on each (field, value) of zipmap `b` (Redis before 2.6).
pub fn zipmap_each<'a>(
    b: &'a [u8],
    mut f: impl FnMut(&'a [u8], &'a [u8]) -> Result<(), PackError>,
) -> Result<usize, PackError> {
    // A length: one byte below 254, or 254 and a little-endian u32; 255 ends.
    fn len(b: &[u8], at: &mut usize) -> Result<Option<usize>, PackError> {
        let p = *at;
        let first = *slice(b, p, 1)?.first().unwrap_or(&0);
        match first {
            0xff => Ok(None),
            0xfe => {
                *at += 5;
                Ok(Some(le(slice(b, p + 1, 4)?) as usize))
            }
            n => {
                *at += 1;
                Ok(Some(n as usize))
            }
        }
    }
    let mut at = 1;
    let mut count = 0;
    while let Some(klen) = len(b, &mut at)? {
        let key = slice(b, at, klen)?;
        at += klen;
        let Some(vlen) = len(b, &mut at)? else {
            return bad(at, "zipmap field without a value");
        };
        let free = *slice(b, at, 1)?.first().unwrap_or(&0) as usize;
        at += 1;
        let val = slice(b, at, vlen)?;
        at += vlen + free;
        f(key, val)?;
        count += 1;
    }
    if at + 1 != b.len() {
        return bad(at, "zipmap has bytes after its end marker");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(b: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        listpack_each(b, |i| {
            out.push(i.to_vec());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn listpack_round_trips_every_entry_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let cases: Vec<Vec<u8>> = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-32768",
            "32767",
            "40000",
            "-8388608",
            "8388607",
            "8388608",
            "2147483647",
            "-2147483648",
            "2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "",
            "a",
            "01",
            "+1",
            "1.5",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([long, mid, vec![b'z'; 63], vec![b'w'; 64], vec![0, 255, 10]])
        .collect();
        let mut w = LpWriter::new();
        for c in &cases {
            w.push(c);
        }
        let blob = w.finish();
        assert_eq!(items(&blob), cases);
    }

    #[test]
    fn entry_size_is_what_push_adds() {
        for s in [
            "0",
            "-5",
            "300",
            "-70000",
            "8388608",
            "4294967296",
            "ab",
            "01",
        ] {
            let mut w = LpWriter::new();
            let before = w.bytes();
            w.push(s.as_bytes());
            assert_eq!(
                w.bytes() - before,
                LpWriter::entry_size(s.as_bytes()),
                "{s}"
            );
        }
        for n in [63, 64, 127, 200, 4095, 4096, 20000] {
            let s = vec![b'x'; n];
            let mut w = LpWriter::new();
            let before = w.bytes();
            w.push(&s);
            assert_eq!(w.bytes() - before, LpWriter::entry_size(&s), "{n}");
        }
    }

    #[test]
    fn listpack_matches_redis_bytes() {
        // What Redis 7.0 stores for RPUSH l a 1 (listpack node): header
        // total 12, count 2; "a" as 6-bit string; 1 as 7-bit uint.
        let mut w = LpWriter::new();
        w.push(b"a");
        w.push(b"1");
        assert_eq!(w.finish(), [12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xff]);
    }

    #[test]
    fn backlen_reads_backwards() {
        // A 200-byte string: entry of 2 + 200 = 202 bytes; back-length 2
        // bytes, first holding the high bits without the flag.
        let mut w = LpWriter::new();
        w.push(&[b'q'; 200]);
        let blob = w.finish();
        let end = blob.len() - 1;
        assert_eq!(&blob[end - 2..end], &[202 >> 7, (202 & 127) | 128]);
    }

    #[test]
    fn malformed_packs_are_errors() {
        let mut w = LpWriter::new();
        w.push(b"hello");
        let good = w.finish();
        for cut in 0..good.len() {
            assert!(listpack_each(&good[..cut], |_| Ok(())).is_err(), "{cut}");
        }
        let mut wrong_count = good.clone();
        wrong_count[4] = 3;
        assert!(listpack_each(&wrong_count, |_| Ok(())).is_err());
        assert!(intset_each(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0], |_| ()).is_err());
        assert!(intset_each(&[3, 0, 0, 0, 0, 0, 0, 0], |_| ()).is_err());
        let desc = [2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0];
        assert!(intset_each(&desc, |_| ()).is_err());
        assert!(ziplist_each(&[11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff], |_| Ok(())).is_ok());
        assert!(ziplist_each(&[12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff], |_| Ok(())).is_err());
    }

    #[test]
    fn intset_round_trips_in_each_width() {
        for vals in [
            vec![-3, 0, 7],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
            vec![],
        ] {
            let mut got = Vec::new();
            intset_each(&intset(&vals), |v| got.push(v)).unwrap();
            assert_eq!(got, vals);
        }
        assert_eq!(intset(&[1, 2])[0], 2);
        assert_eq!(intset(&[1, 40000])[0], 4);
    }

    #[test]
    fn ziplist_decodes_every_encoding() {
        // Hand-built ziplist: "ab", 12 (immediate), -2 (int8), 300 (int16),
        // 100000 (int24), 2^31 (int64), a 70-byte string (14-bit length).
        let mut body = Vec::new();
        let entries: Vec<Vec<u8>> = vec![
            vec![0x02, b'a', b'b'],
            vec![0xfd],
            vec![0xfe, (-2i8) as u8],
            [vec![0xc0], 300i16.to_le_bytes().to_vec()].concat(),
            [vec![0xf0], 100000i32.to_le_bytes()[..3].to_vec()].concat(),
            [vec![0xe0], (1i64 << 31).to_le_bytes().to_vec()].concat(),
            [vec![0x40, 70], vec![b's'; 70]].concat(),
        ];
        let mut prev = 0usize;
        for e in &entries {
            body.push(prev as u8);
            body.extend_from_slice(e);
            prev = e.len() + 1;
        }
        let total = 10 + body.len() + 1;
        let mut zl = Vec::new();
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&0u32.to_le_bytes());
        zl.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xff);
        let mut got = Vec::new();
        ziplist_each(&zl, |i| {
            got.push(i);
            Ok(())
        })
        .unwrap();
        let s70 = vec![b's'; 70];
        assert_eq!(
            got,
            [
                Item::Bytes(b"ab"),
                Item::Int(12),
                Item::Int(-2),
                Item::Int(300),
                Item::Int(100000),
                Item::Int(1 << 31),
                Item::Bytes(&s70),
            ]
        );
    }

    #[test]
    fn zipmap_decodes_fields_and_skips_free_space() {
        // zmlen 2; "a" -> "1" (free 0); "bb" -> "22" with 2 free bytes.
        let zm = [
            2, 1, b'a', 1, 0, b'1', 2, b'b', b'b', 2, 2, b'2', b'2', 0, 0, 0xff,
        ];
        let mut got = Vec::new();
        zipmap_each(&zm, |k, v| {
            got.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [
                (b"a".to_vec(), b"1".to_vec()),
                (b"bb".to_vec(), b"22".to_vec())
            ]
        );
    }
}
