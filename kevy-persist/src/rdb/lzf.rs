//! LZF (Marc Lehmann's liblzf format) for strings saved with
//! `rdbcompression yes`: Redis's files carry it, and kevy writes it too. A control byte below 32 starts a run of
//! `ctrl + 1` literal bytes; otherwise its top three bits are a match length
//! (7 means "add the next byte") and the low five bits with the next byte
//! are the distance back, minus one, to copy `length + 2` bytes from.

/// Decompresses `input` into exactly `out_len` bytes; `None` when the input
/// is malformed or does not produce exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run)?;
            if out.len() + run > out_len {
                return None;
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            // The source may overlap what is being written (a run), so
            // copy byte by byte.
            let start = out.len() - back;
            for i in 0..len {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Compresses `input` into at most `max_out` bytes (Redis asks for at
/// least 4 bytes saved); `None` when it does not get that small. A greedy
/// match finder over a hash of 3-byte sequences, as liblzf's; its output is
/// valid LZF, not necessarily liblzf's bytes.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    const HLOG: u32 = 13;
    const MAX_OFF: usize = 1 << 13;
    const MAX_LEN: usize = 264;
    let n = input.len();
    let mut table = vec![u32::MAX; 1 << HLOG];
    let mut out = Vec::with_capacity(max_out + 1);
    let literals = |out: &mut Vec<u8>, lit: &[u8]| {
        for chunk in lit.chunks(32) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    let (mut ip, mut lit_start) = (0usize, 0usize);
    while ip + 2 < n {
        let v =
            u32::from(input[ip]) << 16 | u32::from(input[ip + 1]) << 8 | u32::from(input[ip + 2]);
        let h = (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize;
        let cand = table[h] as usize;
        table[h] = ip as u32;
        if cand < ip && ip - cand <= MAX_OFF && input[cand..cand + 3] == input[ip..ip + 3] {
            let max = (n - ip).min(MAX_LEN);
            let mut len = 3;
            while len < max && input[cand + len] == input[ip + len] {
                len += 1;
            }
            literals(&mut out, &input[lit_start..ip]);
            let off = ip - cand - 1;
            let l = len - 2;
            if l < 7 {
                out.push(((l << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            out.push(off as u8);
            ip += len;
            lit_start = ip;
            if out.len() > max_out {
                return None;
            }
        } else {
            ip += 1;
        }
    }
    literals(&mut out, &input[lit_start..]);
    (out.len() <= max_out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_bytes_decompress_to_the_input() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"the quick brown fox jumps over the lazy dog, the quick brown fox".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            (0..3000u32)
                .flat_map(|i| format!("key:{i},").into_bytes())
                .collect(),
        ];
        let mut x = 0x2545_f491_u32;
        inputs.push(
            (0..4000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x % 7) as u8
                })
                .collect(),
        );
        for input in inputs {
            let c = compress(&input, input.len() - 4).expect("compressible");
            assert!(c.len() <= input.len() - 4);
            assert_eq!(decompress(&c, input.len()).as_deref(), Some(&input[..]));
        }
        // Random bytes do not shrink: no output.
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert!(compress(&noise, noise.len() - 4).is_none());
    }

    #[test]
    fn literals_and_back_references() {
        // "abcabcabcabc": 3 literals, then a 9-byte match 3 back.
        let input = [2, b'a', b'b', b'c', 7 << 5, 0, 2];
        // len field 7 + extra 0 = 7, +2 = 9 bytes, distance 2 + 1 = 3.
        assert_eq!(decompress(&input, 12).unwrap(), b"abcabcabcabc");
        // Short match: length field 1 (3 bytes), distance 1: "aaaa".
        assert_eq!(decompress(&[0, b'a', 1 << 5, 0], 4).unwrap(), b"aaaa");
    }

    #[test]
    fn malformed_input_is_refused_not_a_panic() {
        assert!(decompress(&[5, b'a'], 6).is_none(), "truncated literal");
        assert!(
            decompress(&[1 << 5, 0], 3).is_none(),
            "reference before start"
        );
        assert!(decompress(&[0, b'a'], 2).is_none(), "too short");
        assert!(decompress(&[1, b'a', b'b'], 1).is_none(), "too long");
        assert!(
            decompress(&[0, b'a', 7 << 5], 9).is_none(),
            "missing length byte"
        );
        for n in 0..=255u8 {
            let _ = decompress(&[n, n, n, n], 64);
        }
    }
}
