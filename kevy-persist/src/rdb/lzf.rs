//! LZF decompression (Marc Lehmann's liblzf format), for strings Redis
//! saved with `rdbcompression yes`. A control byte below 32 starts a run of
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

#[cfg(test)]
mod tests {
    use super::*;

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
