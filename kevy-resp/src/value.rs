//! Walking RESP2/RESP3 *reply* values without decoding them: how long the
//! first value in a buffer is, and where an aggregate's elements lie, for
//! merging the per-shard parts of a fan-out reply. The walk keeps a count of
//! values still owed instead of recursing, so nesting depth costs no stack.

use std::ops::Range;

use crate::parser::string2ll;

/// The smallest value (`_\r\n`, `+\r\n`) is three bytes, which bounds how
/// many values a buffer can still hold.
const MIN_VALUE_LEN: usize = 3;
/// Ranges reserved up front by [`split_array`], whatever count it declares.
const RANGES_PREALLOC: usize = 1024;

/// The byte length of the first complete reply value in `buf`, aggregates
/// included whole; `None` when it is incomplete or malformed.
///
/// Knows every RESP3 type (`+ - : $ * _ , # ( = % ~ > ! |`) and the RESP2
/// nulls `$-1` and `*-1`. An attribute (`|`) decorates the value after it,
/// so the two are skipped as one. Streamed strings and aggregates (`$?`)
/// count as malformed: Redis never sends them.
pub fn skip_value(buf: &[u8]) -> Option<usize> {
    skip_values(buf, 0, 1)
}

/// The elements of the array (`*`), set (`~`) or map (`%`) at the start of
/// `buf`: their number, a map counting both keys and values (2n for `%n`),
/// and the byte range of each. `None` when the aggregate is incomplete or
/// malformed, is a null (`*-1`), or `buf` starts with another type.
pub fn split_array(buf: &[u8]) -> Option<(usize, Vec<Range<usize>>)> {
    let (kind, line, mut pos) = line_at(buf, 0)?;
    let per_entry = match kind {
        b'*' | b'~' => 1,
        b'%' => 2,
        _ => return None,
    };
    let n = usize::try_from(string2ll(line)?).ok()?;
    let count = n.checked_mul(per_entry)?;
    if count > (buf.len() - pos) / MIN_VALUE_LEN {
        return None;
    }
    let mut ranges = Vec::with_capacity(count.min(RANGES_PREALLOC));
    for _ in 0..count {
        let end = skip_values(buf, pos, 1)?;
        ranges.push(pos..end);
        pos = end;
    }
    Some((count, ranges))
}

/// The elements of the array (`*`), set (`~`) or map (`%`, keys and
/// values) at the start of `buf`, one at a time and without allocating:
/// the aggregate's type byte and its iterator. `None` when `buf` starts
/// with another type or a null; the iterator ends early at a malformed or
/// incomplete element.
pub fn array_elems(buf: &[u8]) -> Option<(u8, Elems<'_>)> {
    let (kind, line, pos) = line_at(buf, 0)?;
    let per_entry = match kind {
        b'*' | b'~' => 1,
        b'%' => 2,
        _ => return None,
    };
    let n = usize::try_from(string2ll(line)?).ok()?;
    let left = n.checked_mul(per_entry)?;
    Some((kind, Elems { buf, pos, left }))
}

/// The elements of an aggregate reply ([`array_elems`]).
#[derive(Clone, Debug, Default)]
pub struct Elems<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Elems<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match skip_values(self.buf, self.pos, 1) {
            Some(end) => {
                let e = &self.buf[self.pos..end];
                self.pos = end;
                Some(e)
            }
            None => {
                self.left = 0;
                None
            }
        }
    }
}

/// The content of the simple value that is all of `buf`: a bulk string's
/// bytes, or the text of a simple string, integer or double (`+ : ,`).
/// `None` for anything else: an aggregate, a null, an error, a value that
/// does not fill `buf` exactly.
pub fn scalar(buf: &[u8]) -> Option<&[u8]> {
    let (kind, line, pos) = line_at(buf, 0)?;
    match kind {
        b'+' | b':' | b',' if pos == buf.len() => Some(line),
        b'$' => {
            let len = usize::try_from(string2ll(line)?).ok()?;
            let end = pos.checked_add(len)?.checked_add(2)?;
            (end == buf.len() && buf.get(end - 2..end)? == b"\r\n").then(|| &buf[pos..end - 2])
        }
        _ => None,
    }
}

/// Skips `owed` consecutive values starting at `pos`; the offset after them.
fn skip_values(buf: &[u8], mut pos: usize, mut owed: usize) -> Option<usize> {
    while owed > 0 {
        if owed > (buf.len() - pos) / MIN_VALUE_LEN {
            return None;
        }
        owed -= 1;
        let (kind, line, next) = line_at(buf, pos)?;
        pos = next;
        match kind {
            b'+' | b'-' | b',' | b'(' => {}
            b':' => {
                string2ll(line)?;
            }
            b'_' if line.is_empty() => {}
            b'#' if line == b"t" || line == b"f" => {}
            b'$' | b'=' | b'!' => {
                let len = string2ll(line)?;
                if len == -1 && kind == b'$' {
                    continue; // RESP2 null bulk string
                }
                let len = usize::try_from(len).ok()?;
                let end = pos.checked_add(len)?.checked_add(2)?;
                if buf.get(end - 2..end)? != b"\r\n" {
                    return None;
                }
                pos = end;
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = string2ll(line)?;
                if n == -1 && kind == b'*' {
                    continue; // RESP2 null array
                }
                let n = usize::try_from(n).ok()?;
                let more = match kind {
                    b'%' => n.checked_mul(2)?,
                    // An attribute's pairs, then the value it decorates.
                    b'|' => n.checked_mul(2)?.checked_add(1)?,
                    _ => n,
                };
                owed = owed.checked_add(more)?;
            }
            _ => return None,
        }
    }
    Some(pos)
}

/// The line at `pos`: its type byte, the bytes up to its CRLF, and the
/// offset after the CRLF. A bare CR or LF inside the line is malformed.
fn line_at(buf: &[u8], pos: usize) -> Option<(u8, &[u8], usize)> {
    let kind = *buf.get(pos)?;
    let body = pos + 1;
    let cr = body + memchr::memchr2(b'\r', b'\n', buf.get(body..)?)?;
    if buf[cr] != b'\r' || *buf.get(cr + 1)? != b'\n' {
        return None;
    }
    Some((kind, &buf[body..cr], cr + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    #[test]
    fn scalars_give_their_content_and_nothing_else_does() {
        assert_eq!(scalar(b"$5\r\nhe\r\no\r\n"), Some(&b"he\r\no"[..]));
        assert_eq!(scalar(b"$0\r\n\r\n"), Some(&b""[..]));
        assert_eq!(scalar(b"+OK\r\n"), Some(&b"OK"[..]));
        assert_eq!(scalar(b":-42\r\n"), Some(&b"-42"[..]));
        assert_eq!(scalar(b",1.5\r\n"), Some(&b"1.5"[..]));
        for bad in [
            &b"$-1\r\n"[..],
            b"*1\r\n$1\r\na\r\n",
            b"-ERR x\r\n",
            b"$3\r\nab\r\n",
            b"$1\r\nab\r\n",
            b"+OK\r\n+OK\r\n",
            b"_\r\n",
        ] {
            assert_eq!(scalar(bad), None, "{bad:?}");
        }
    }

    /// Values that must be skipped whole; each is checked at every prefix
    /// (never complete early) and with trailing bytes (never overrun).
    const VALUES: &[&[u8]] = &[
        b"+OK\r\n",
        b"+\r\n",
        b"-ERR wrong\r\n",
        b":0\r\n",
        b":-42\r\n",
        b"$0\r\n\r\n",
        b"$5\r\nhe\r\no\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"_\r\n",
        b",3.14\r\n",
        b",inf\r\n",
        b"#t\r\n",
        b"#f\r\n",
        b"(3492890328409238509324850943850943825024385\r\n",
        b"=8\r\ntxt:some\r\n",
        b"!9\r\nERR oops!\r\n",
        b"*2\r\n$3\r\nfoo\r\n:1\r\n",
        b"*3\r\n*1\r\n*0\r\n$-1\r\n%1\r\n+a\r\n+b\r\n",
        b"%2\r\n+k1\r\n:1\r\n+k2\r\n*1\r\n_\r\n",
        b"~2\r\n+a\r\n+b\r\n",
        b">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$3\r\nval\r\n",
        b"*1\r\n|1\r\n+a\r\n+b\r\n:7\r\n",
    ];

    #[test]
    fn skips_every_type_and_never_early() {
        for v in VALUES {
            assert_eq!(
                skip_value(v),
                Some(v.len()),
                "{:?}",
                String::from_utf8_lossy(v)
            );
            for cut in 0..v.len() {
                assert_eq!(
                    skip_value(&v[..cut]),
                    None,
                    "prefix {cut} of {:?}",
                    String::from_utf8_lossy(v)
                );
            }
            let mut more = v.to_vec();
            more.extend_from_slice(b"+next\r\n");
            assert_eq!(skip_value(&more), Some(v.len()));
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b"?x\r\n"[..],
            b"+a\rb\r\n",
            b"+a\nb\r\n",
            b":12a\r\n",
            b":\r\n",
            b"$3\r\nabcd\r\n",
            b"$-2\r\n",
            b"=-1\r\n",
            b"~-1\r\n",
            b"*-2\r\n",
            b"$?\r\n",
            b"#x\r\n",
            b"_x\r\n",
            b"*2147483647\r\n:1\r\n",
            b"*9223372036854775807\r\n",
            b"%9223372036854775807\r\n",
            b"$9223372036854775807\r\n",
        ] {
            assert_eq!(skip_value(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn deep_nesting_costs_no_stack() {
        let depth = 200_000;
        let mut v = b"*1\r\n".repeat(depth);
        v.extend_from_slice(b":1\r\n");
        assert_eq!(skip_value(&v), Some(v.len()));
        assert_eq!(skip_value(&v[..v.len() - 1]), None);
    }

    #[test]
    fn splits_arrays_sets_and_maps() {
        let buf = b"*3\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n:1\r\n:2\r\n+tail\r\n";
        let (n, r) = split_array(buf).unwrap();
        assert_eq!(n, 3);
        let parts: Vec<&[u8]> = r.iter().map(|r| &buf[r.clone()]).collect();
        assert_eq!(
            parts,
            [&b"$3\r\nfoo\r\n"[..], b"$-1\r\n", b"*2\r\n:1\r\n:2\r\n"]
        );

        let buf = b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n";
        let (n, r) = split_array(buf).unwrap();
        assert_eq!(n, 4);
        assert_eq!(&buf[r[3].clone()], b":2\r\n");

        let (n, r) = split_array(b"~1\r\n+x\r\n").unwrap();
        assert_eq!(n, 1);
        assert_eq!((r.len(), r[0].clone()), (1, 4..8));
        assert_eq!(split_array(b"*0\r\n"), Some((0, vec![])));
    }

    #[test]
    fn split_rejects_non_arrays_nulls_and_incomplete() {
        for bad in [
            &b"*-1\r\n"[..],
            b"$3\r\nfoo\r\n",
            b">1\r\n+a\r\n",
            b"*2\r\n+a\r\n",
            b"*2\r\n+a\r\n+b\r",
            b"*1",
            b"",
            b"*2147483647\r\n+a\r\n",
        ] {
            assert_eq!(split_array(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn encoder_output_is_one_value() {
        for resp3 in [false, true] {
            let mut buf = Vec::new();
            let mut r = Reply::new(&mut buf, resp3);
            r.map(2);
            r.bulk(b"k");
            r.double(1.5);
            r.bulk(b"s");
            r.set(4);
            r.null();
            r.boolean(true);
            r.verbatim(b"txt", b"hello\r\nworld");
            r.big_number(b"123");
            let end = buf.len();
            let mut r = Reply::new(&mut buf, resp3);
            r.int(1);
            assert_eq!(skip_value(&buf), Some(end), "resp3={resp3}");
            let (n, parts) = split_array(&buf).unwrap();
            assert_eq!((n, parts.len()), (4, 4));
            assert_eq!(parts[3].end, end);
        }
    }
}
