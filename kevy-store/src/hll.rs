//! HyperLogLog in Redis's own representation (`hyperloglog.c`), byte for
//! byte, so that GET, DUMP/RESTORE and RDB files carry HLLs between kevy
//! and Redis, and PFCOUNT gives Redis's estimate for the same registers.
//!
//! An HLL is a string value: a 16-byte header (`HYLL`, the encoding, three
//! unused bytes, the cached cardinality in little endian whose top bit says
//! "stale") followed by 16384 registers of 6 bits. Element `e` hashes with
//! MurmurHash64A (seed `0xadc83b19`); the low 14 bits pick the register,
//! and the register keeps the longest `0…01` run seen in the other 50
//! (Heule, Nunkesser, Hall: "HyperLogLog in Practice"). Registers are
//! *dense* (packed 6-bit fields, least significant bits first) or *sparse*
//! (run-length opcodes: `00xxxxxx` ZERO of 1..64 registers, `01xxxxxx
//! yyyyyyyy` XZERO of 1..16384, `1vvvvvxx` VAL of value 1..32 repeated
//! 1..4 times). A new HLL is sparse and becomes dense when a register needs
//! a value above 32 or the string would pass `hll-sparse-max-bytes`. The
//! estimate is Ertl's improved estimator over the register histogram
//! (O. Ertl, "New cardinality estimation algorithms for HyperLogLog
//! sketches", arXiv:1702.01284), as Redis 7 computes it.
//!
//! Functions here take the whole string. Sparse updates follow Redis's
//! steps exactly (split the covering opcode, then merge adjacent equal
//! VALs), since the bytes they leave are part of the format; malformed
//! input gets Redis's answer where Redis's answer is defined, and never a
//! panic.

/// Header bytes before the registers.
pub const HDR: usize = 16;
/// Bits of the hash that pick a register.
const P: u32 = 14;
/// Bits of the hash left for the run of zeroes.
const Q: usize = 64 - P as usize;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Largest value a 6-bit register holds.
const REG_MAX: u16 = 63;
/// Length of a dense HLL.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
/// Encoding byte values.
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
/// `hll-sparse-max-bytes`'s default.
pub const SPARSE_MAX_BYTES: usize = 3000;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
/// 0.5 / ln 2, the estimator's constant as `m` grows without bound.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// The hash seed Redis uses for HLL elements.
const SEED: u64 = 0xadc8_3b19;

/// A sparse HLL whose opcodes do not cover exactly 16384 registers
/// (Redis's `INVALIDOBJ Corrupted HLL object detected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Whether `b` passes Redis's `isHLLObjectOrReply`: long enough for the
/// header, the magic, a known encoding and, when dense, the exact length.
/// The sparse opcodes are checked only as they are read.
pub fn is_valid(b: &[u8]) -> bool {
    b.len() >= HDR
        && &b[..4] == b"HYLL"
        && b[4] <= SPARSE
        && (b[4] != DENSE || b.len() == DENSE_SIZE)
}

/// An empty HLL as Redis creates it: sparse, one XZERO covering every
/// register, cached cardinality 0 (valid).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2 + 3);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.resize(HDR, 0);
    let mut op = [0u8; 2];
    xzero_set(&mut op, REGISTERS);
    v.extend_from_slice(&op);
    v
}

/// Whether `b` (valid) is dense.
#[inline]
pub fn is_dense(b: &[u8]) -> bool {
    b[4] == DENSE
}

/// The cached cardinality, when it is not stale.
#[inline]
pub fn cached(b: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
    (b[15] & 0x80 == 0).then_some(card)
}

/// Caches `card` (which also marks the cache fresh).
#[inline]
pub fn set_cached(b: &mut [u8], card: u64) {
    b[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
#[inline]
pub fn invalidate(b: &mut [u8]) {
    b[15] |= 0x80;
}

// ---- hashing --------------------------------------------------------------------

/// MurmurHash2, 64-bit version (Austin Appleby's MurmurHash64A), reading
/// eight bytes at a time in little-endian order as Redis does on every
/// architecture.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register `ele` maps to and the length of its `0…01` pattern
/// (1..=51), as Redis's `hllPatLen`.
#[inline]
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // A sentinel bit past the 50 bits in use ends the run at Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- dense registers ------------------------------------------------------------

/// Register `i` of packed 6-bit registers `r`; the byte past the last
/// register reads as zero (Redis reads the string's terminating NUL).
#[inline(always)]
fn dense_get(r: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = r[byte] as u16;
    let b1 = r.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REG_MAX) as u8
}

#[inline(always)]
fn dense_put(r: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u16;
    r[byte] &= !(REG_MAX << fb) as u8;
    r[byte] |= (v << fb) as u8;
    if let Some(b1) = r.get_mut(byte + 1) {
        *b1 &= !(REG_MAX >> (8 - fb)) as u8;
        *b1 |= (v >> (8 - fb)) as u8;
    }
}

/// Raises dense register `i` to `count`; whether it changed.
#[inline]
fn dense_set(r: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(r, i) {
        dense_put(r, i, count);
        true
    } else {
        false
    }
}

// ---- sparse opcodes -------------------------------------------------------------

#[inline(always)]
fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}

#[inline(always)]
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}

#[inline(always)]
fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}

#[inline(always)]
fn zero_len(op: u8) -> usize {
    (op & 0x3f) as usize + 1
}

/// XZERO's length; a second byte past the end reads as zero.
#[inline(always)]
fn xzero_len(s: &[u8], p: usize) -> usize {
    ((((s[p] & 0x3f) as usize) << 8) | s.get(p + 1).copied().unwrap_or(0) as usize) + 1
}

#[inline(always)]
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}

#[inline(always)]
fn val_len(op: u8) -> usize {
    (op & 0x3) as usize + 1
}

#[inline(always)]
fn val_op(value: u8, len: usize) -> u8 {
    (((value as usize - 1) << 2 | (len - 1)) | 0x80) as u8
}

#[inline(always)]
fn zero_op(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero_set(out: &mut [u8], len: usize) {
    let l = len - 1;
    out[0] = ((l >> 8) | 0x40) as u8;
    out[1] = (l & 0xff) as u8;
}

/// One opcode of a sparse HLL: its byte length, the registers it covers
/// and their value.
#[inline(always)]
fn opcode(s: &[u8], p: usize) -> (usize, usize, u8) {
    let op = s[p];
    if is_zero(op) {
        (1, zero_len(op), 0)
    } else if is_xzero(op) {
        (2, xzero_len(s, p), 0)
    } else {
        (1, val_len(op), val_value(op))
    }
}

// ---- updates --------------------------------------------------------------------

/// Adds `ele` to the (valid) HLL `b`: whether a register changed. A sparse
/// HLL may become dense (`sparse_max` is `hll-sparse-max-bytes`).
pub fn add(b: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set(b, index, count, sparse_max)
}

/// Raises register `index` to `count` in whichever encoding `b` has.
pub fn set(b: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if is_dense(b) {
        Ok(dense_set(&mut b[HDR..], index, count))
    } else {
        sparse_set(b, index, count, sparse_max)
    }
}

/// Redis's `hllSparseSet`: finds the opcode covering `index`; a VAL of
/// `count` or more is left alone; otherwise the opcode is replaced by the
/// split run (up to ZERO/XZERO, VAL, ZERO/XZERO), then adjacent equal
/// VALs near it are merged. Promotes to dense when `count` exceeds 32 or
/// the split would grow the string past `sparse_max`.
fn sparse_set(
    b: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(b, index, count);
    }
    // Step 1: the opcode covering `index`, the one before it, and the
    // first register it covers.
    let mut end = b.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev = None;
    let mut span = 0usize;
    while p < end {
        let (oplen, n, _) = opcode(b, p);
        span = n;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = b[p];
    let runlen = span;

    'updated: {
        // Step 2: the cases that rewrite one byte in place.
        if is_val(op) {
            if val_value(op) >= count {
                return Ok(false);
            }
            if runlen == 1 {
                b[p] = val_op(count, 1);
                break 'updated;
            }
        }
        if is_zero(op) && runlen == 1 {
            b[p] = val_op(count, 1);
            break 'updated;
        }

        // The general case: the covering opcode becomes a sequence of up
        // to three, five bytes at most (XZERO, VAL, XZERO).
        let mut seq = [0u8; 5];
        let mut n = 0;
        let last = first + span - 1;
        let zeros = |seq: &mut [u8; 5], n: &mut usize, len: usize| {
            if len > SPARSE_ZERO_MAX_LEN {
                xzero_set(&mut seq[*n..], len);
                *n += 2;
            } else {
                seq[*n] = zero_op(len);
                *n += 1;
            }
        };
        if !is_val(op) {
            if index != first {
                zeros(&mut seq, &mut n, index - first);
            }
            seq[n] = val_op(count, 1);
            n += 1;
            if index != last {
                zeros(&mut seq, &mut n, last - index);
            }
        } else {
            let cur = val_value(op);
            if index != first {
                seq[n] = val_op(cur, index - first);
                n += 1;
            }
            seq[n] = val_op(count, 1);
            n += 1;
            if index != last {
                seq[n] = val_op(cur, last - index);
                n += 1;
            }
        }

        // Step 3: put the sequence in place of the opcode.
        let oldlen = if is_xzero(op) { 2 } else { 1 };
        let new_len = (end + n) as isize - oldlen as isize;
        if n > oldlen && new_len as usize > sparse_max {
            return promote(b, index, count);
        }
        b.splice(p..(p + oldlen).min(end), seq[..n].iter().copied());
        // An XZERO cut short by the end of the string counts its missing
        // byte as present, as Redis's length arithmetic does.
        b.truncate(new_len as usize);
        end = b.len();
    }

    // Step 4: merge adjacent VALs of one value, scanning up to five
    // opcodes from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        let op = b[p];
        if is_xzero(op) {
            p += 2;
            continue;
        }
        if is_zero(op) {
            p += 1;
            continue;
        }
        if p + 1 < end && is_val(b[p + 1]) {
            let (v1, v2) = (val_value(op), val_value(b[p + 1]));
            if v1 == v2 {
                let len = val_len(op) + val_len(b[p + 1]);
                if len <= SPARSE_VAL_MAX_LEN {
                    b[p + 1] = val_op(v1, len);
                    b.remove(p);
                    end -= 1;
                    // Try the merged opcode with the one after it.
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate(b);
    Ok(true)
}

/// The sparse HLL `b` becomes dense, then register `index` takes `count`
/// (a change: the promotion happens only for a register that grows).
fn promote(b: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(b)?;
    dense_set(&mut b[HDR..], index, count);
    Ok(true)
}

/// Converts a sparse HLL to dense, keeping its header (and so its cached
/// cardinality); whether it converted (false: already dense).
pub fn to_dense(b: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if is_dense(b) {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&b[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    let mut idx = 0usize;
    let mut p = HDR;
    while p < b.len() {
        let (oplen, runlen, value) = opcode(b, p);
        if value > 0 {
            // As Redis's hllSparseToDense: a run past the last register
            // is corruption, whatever follows.
            if runlen + idx > REGISTERS {
                return Err(Corrupt);
            }
            for i in idx..idx + runlen {
                dense_put(regs, i, value);
            }
        }
        idx += runlen;
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *b = dense;
    Ok(true)
}

// ---- counting -------------------------------------------------------------------

/// How many registers hold each value; for a sparse HLL whose opcodes do
/// not cover exactly 16384 registers, `Corrupt`.
pub fn histogram(b: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut h = [0u32; 64];
    if is_dense(b) {
        // Four registers in every three bytes.
        for c in b[HDR..].chunks_exact(3) {
            let w = c[0] as u32 | (c[1] as u32) << 8 | (c[2] as u32) << 16;
            h[(w & 63) as usize] += 1;
            h[((w >> 6) & 63) as usize] += 1;
            h[((w >> 12) & 63) as usize] += 1;
            h[((w >> 18) & 63) as usize] += 1;
        }
        return Ok(h);
    }
    let mut idx = 0usize;
    let mut p = HDR;
    while p < b.len() {
        let (oplen, runlen, value) = opcode(b, p);
        idx += runlen;
        h[value as usize] = h[value as usize].wrapping_add(runlen as u32);
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(h)
}

/// The histogram of registers held one per byte (a union's maxima).
pub fn histogram_raw(max: &[u8; REGISTERS]) -> [u32; 64] {
    let mut h = [0u32; 64];
    for &v in max.iter() {
        h[(v & 63) as usize] += 1;
    }
    h
}

/// Ertl's sigma function.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau function.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a register histogram: Ertl's improved
/// estimator, with Redis's order of floating-point operations so the
/// result is Redis's to the last unit.
pub fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    // Redis rounds with `llroundl`, whose result for a value past `long
    // long` (infinity, when no register is below 51) is x86-64's
    // "integer indefinite" 2^63; that is what it caches and replies (as
    // -2^63), and its top bit leaves the cache stale.
    let e = (ALPHA_INF * m * m / z).round();
    if e < 9_223_372_036_854_775_808.0 {
        e as u64
    } else {
        1 << 63
    }
}

/// The estimate for the (valid) HLL `b`, ignoring its cache.
pub fn count(b: &[u8]) -> Result<u64, Corrupt> {
    histogram(b).map(|h| estimate(&h))
}

/// Raises `max[i]` to register `i` of the (valid) HLL `b`, for every `i`
/// (Redis's `hllMerge`). A sparse HLL that does not cover exactly 16384
/// registers is `Corrupt`, and `max` is then partly updated.
pub fn merge_into(max: &mut [u8; REGISTERS], b: &[u8]) -> Result<(), Corrupt> {
    if is_dense(b) {
        // Four registers in every three bytes, as in `histogram`: one load
        // per four registers instead of two per register.
        for (c, m) in b[HDR..].chunks_exact(3).zip(max.chunks_exact_mut(4)) {
            let w = c[0] as u32 | (c[1] as u32) << 8 | (c[2] as u32) << 16;
            for (k, m) in m.iter_mut().enumerate() {
                *m = (*m).max((w >> (6 * k)) as u8 & 63);
            }
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = HDR;
    while p < b.len() {
        let (oplen, runlen, value) = opcode(b, p);
        if value > 0 {
            // A run past the last register: Redis 7.0 answers PFMERGE
            // with INVALIDOBJ here, whatever follows.
            if runlen + i > REGISTERS {
                return Err(Corrupt);
            }
            for m in &mut max[i..i + runlen] {
                if value > *m {
                    *m = value;
                }
            }
        }
        i += runlen;
        p += oplen;
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Every register of a dense HLL.
pub fn registers(b: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let r = &b[HDR..];
    (0..REGISTERS).map(move |i| dense_get(r, i))
}

/// PFDEBUG DECODE's text for a sparse HLL: `z:N`, `Z:N` and `v:V,N` per
/// opcode, space-separated.
pub fn decode(b: &[u8]) -> String {
    let mut out = String::new();
    let mut p = HDR;
    while p < b.len() {
        let op = b[p];
        let (oplen, runlen, value) = opcode(b, p);
        if !out.is_empty() {
            out.push(' ');
        }
        if is_zero(op) {
            out.push_str(&format!("z:{runlen}"));
        } else if is_xzero(op) {
            out.push_str(&format!("Z:{runlen}"));
        } else {
            out.push_str(&format!("v:{value},{runlen}"));
        }
        p += oplen;
    }
    out
}

/// PFSELFTEST: checks register access on random values, then adds
/// `elements` distinct elements to a dense and a sparse HLL at once,
/// checking at every power of ten that the sparse one stays sparse while
/// small, that both give the same estimate, and that the error is within
/// six standard errors. `rand` gives 31-bit random numbers as C's
/// `rand()`. The error is Redis's text.
pub fn selftest(
    mut rand: impl FnMut() -> u32,
    elements: u64,
    sparse_max: usize,
) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..4].copy_from_slice(b"HYLL");
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (rand() & REG_MAX as u32) as u8;
            *b = r;
            dense_put(&mut dense[HDR..], i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = dense_get(&dense[HDR..], i);
            if v != b {
                return Err(format!("TESTFAILED Register {i} should be {b} but is {v}"));
            }
        }
    }

    dense[HDR..].fill(0);
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = rand() as u64 | (rand() as u64) << 32;
    for j in 1..=elements {
        let ele = (j ^ seed).to_le_bytes();
        let (index, run) = pat_len(&ele);
        dense_set(&mut dense[HDR..], index, run);
        set(&mut sparse, index, run, sparse_max).map_err(|_| "TESTFAILED corrupted HLL")?;
        if j != checkpoint {
            continue;
        }
        if j < (sparse_max / 2) as u64 && is_dense(&sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let d = count(&dense).map_err(|_| "TESTFAILED corrupted HLL")?;
        if Ok(d) != count(&sparse) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - d as i64).unsigned_abs();
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        // Collisions make a large error at ten elements likely enough
        // to allow for.
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register-by-register model of an HLL.
    fn model_of(b: &[u8]) -> Vec<u8> {
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, b).unwrap();
        max.to_vec()
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn elements_land_where_redis_puts_them() {
        // Redis 7.0's bytes after `PFADD h a b c`, then `PFCOUNT h`.
        let mut h = new_sparse();
        for e in [&b"a"[..], b"b", b"c"] {
            assert_eq!(add(&mut h, e, SPARSE_MAX_BYTES), Ok(true));
        }
        invalidate(&mut h);
        assert_eq!(
            h,
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a"
        );
        assert_eq!(decode(&h), "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603");
        assert_eq!(count(&h), Ok(3));
        assert_eq!(add(&mut h, b"a", SPARSE_MAX_BYTES), Ok(false));
    }

    #[test]
    fn empty_hll_is_one_xzero() {
        let h = new_sparse();
        assert_eq!(h.len(), 18);
        assert_eq!(&h[..5], b"HYLL\x01");
        assert_eq!(&h[16..], &[0x7f, 0xff]);
        assert!(is_valid(&h));
        assert_eq!(cached(&h), Some(0));
        assert_eq!(decode(&h), "Z:16384");
        assert_eq!(count(&h), Ok(0));
    }

    #[test]
    fn validity_follows_redis_checks() {
        assert!(!is_valid(b"HYLL"));
        assert!(!is_valid(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"));
        assert!(!is_valid(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"));
        // Dense must be exactly 12304 bytes; sparse opcodes are not
        // checked up front.
        let mut d = b"HYLL\x00".to_vec();
        d.resize(DENSE_SIZE - 1, 0);
        assert!(!is_valid(&d));
        d.push(0);
        assert!(is_valid(&d));
        assert!(is_valid(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0"));
    }

    #[test]
    fn dense_registers_are_independent() {
        let mut r = vec![0u8; DENSE_SIZE - HDR];
        let mut next = rng(7);
        let vals: Vec<u8> = (0..REGISTERS).map(|_| (next() & 63) as u8).collect();
        for (i, &v) in vals.iter().enumerate() {
            dense_put(&mut r, i, v);
        }
        for (i, &v) in vals.iter().enumerate() {
            assert_eq!(dense_get(&r, i), v, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_agree_with_a_register_model() {
        let mut next = rng(42);
        for n in [1usize, 10, 100, 1000, 3000, 20000] {
            let mut sparse = new_sparse();
            let mut dense = new_sparse();
            to_dense(&mut dense).unwrap();
            let mut model = vec![0u8; REGISTERS];
            for _ in 0..n {
                let ele = next().to_le_bytes();
                let (i, c) = pat_len(&ele);
                let grew = c > model[i];
                model[i] = model[i].max(c);
                assert_eq!(add(&mut sparse, &ele, SPARSE_MAX_BYTES), Ok(grew));
                assert_eq!(add(&mut dense, &ele, SPARSE_MAX_BYTES), Ok(grew));
                assert!(is_dense(&sparse) || sparse.len() <= SPARSE_MAX_BYTES);
            }
            assert_eq!(model_of(&sparse), model, "n={n}");
            assert_eq!(model_of(&dense), model, "n={n}");
            assert_eq!(count(&sparse), count(&dense));
            let mut promoted = sparse.clone();
            to_dense(&mut promoted).unwrap();
            promoted[8..16].copy_from_slice(&dense[8..16]);
            assert_eq!(promoted, dense, "n={n}");
        }
    }

    #[test]
    fn sparse_opcodes_stay_canonical() {
        // Registers 1000, 1020, 1021 set to 2, 3, 3, as in Redis's
        // description of the format.
        let mut h = new_sparse();
        for (i, v) in [(1000, 2), (1020, 3), (1021, 3)] {
            assert_eq!(set(&mut h, i, v, SPARSE_MAX_BYTES), Ok(true));
        }
        assert_eq!(decode(&h), "Z:1000 v:2,1 z:19 v:3,2 Z:15362");
        assert_eq!(cached(&h), None);
        assert_eq!(set(&mut h, 1020, 2, SPARSE_MAX_BYTES), Ok(false));
        assert_eq!(set(&mut h, 0, 40, SPARSE_MAX_BYTES), Ok(true));
        assert!(is_dense(&h));
        assert_eq!(h.len(), DENSE_SIZE);
    }

    #[test]
    fn corrupted_sparse_is_detected_not_panicking() {
        let mut h = new_sparse();
        h.truncate(17); // half an XZERO: 0x7f and an implied 0
        assert_eq!(count(&h), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &h), Err(Corrupt));
        let mut h2 = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        assert_eq!(set(&mut h2, 5, 3, SPARSE_MAX_BYTES), Err(Corrupt));
        h2.extend_from_slice(&[0x80; 10]);
        assert_eq!(set(&mut h2, 100, 3, SPARSE_MAX_BYTES), Err(Corrupt));
        assert_eq!(to_dense(&mut h2), Err(Corrupt));
        for bytes in [&[0xffu8; 40][..], &[0x40; 40], &[0x3f; 300]] {
            let mut h3 = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
            h3.extend_from_slice(bytes);
            for i in [0, 5, 16383] {
                let _ = set(&mut h3.clone(), i, 7, SPARSE_MAX_BYTES);
                let _ = set(&mut h3.clone(), i, 45, SPARSE_MAX_BYTES);
            }
            let _ = count(&h3);
            let _ = decode(&h3);
            let _ = to_dense(&mut h3);
        }
    }

    #[test]
    fn estimate_is_zero_for_empty_and_close_for_many() {
        let h = [0u32; 64];
        let mut e = h;
        e[0] = REGISTERS as u32;
        assert_eq!(estimate(&e), 0);
        let mut d = new_sparse();
        for i in 0..100_000u64 {
            add(&mut d, &i.to_le_bytes(), SPARSE_MAX_BYTES).unwrap();
        }
        let c = count(&d).unwrap() as f64;
        assert!((c - 100_000.0).abs() < 100_000.0 * 0.03, "{c}");
    }

    #[test]
    fn an_estimate_past_i64_is_redis_integer_indefinite() {
        // Every register at 63 (dense bytes 0xff) or at 51: Redis 7.0
        // answers PFCOUNT with -9223372036854775808 and keeps the cache
        // stale.
        let mut h = [0u32; 64];
        h[63] = REGISTERS as u32;
        assert_eq!(estimate(&h), 1 << 63);
        let mut h = [0u32; 64];
        h[51] = REGISTERS as u32;
        assert_eq!(estimate(&h), 1 << 63);
        let mut b = new_sparse();
        set_cached(&mut b, 1 << 63);
        assert_eq!(cached(&b), None);
    }

    proptest::proptest! {
        /// Any sparse body, however malformed: every operation answers
        /// (an error at worst) without panicking, a successful write
        /// leaves a valid HLL, and whatever counts also merges to the
        /// same registers.
        #[test]
        fn malformed_sparse_bodies_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            index in 0..REGISTERS,
            run in 1u8..=63,
            max in 0usize..200,
        ) {
            let mut h = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
            h.extend_from_slice(&body);
            let counted = count(&h);
            let mut m = [0u8; REGISTERS];
            proptest::prop_assert_eq!(counted.is_ok(), merge_into(&mut m, &h).is_ok());
            let _ = decode(&h);
            let mut w = h.clone();
            if set(&mut w, index, run, max).is_ok() {
                proptest::prop_assert!(is_valid(&w));
            }
            let mut d = h.clone();
            proptest::prop_assert_eq!(to_dense(&mut d).is_ok(), counted.is_ok());
            if counted.is_ok() {
                proptest::prop_assert_eq!(count(&d), counted);
            }
        }
    }

    #[test]
    fn selftest_passes_on_a_short_run() {
        let mut next = rng(3);
        let r = selftest(|| (next() & 0x7fff_ffff) as u32, 100_000, SPARSE_MAX_BYTES);
        assert_eq!(r, Ok(()));
    }
}
