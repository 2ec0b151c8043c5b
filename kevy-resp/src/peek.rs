//! A look ahead at pipelined requests, for hints only: where the next
//! multibulk frame ends and where its second argument (the key of most
//! keyed commands) lies, without the parser's checks or state. The
//! runtime uses it to start loading the keys of the commands waiting in
//! a connection's buffer before it runs the first (see kevy-store's
//! `Dict::prefetch`). Anything it does not recognise ends the look ahead;
//! what the parser later accepts or refuses is unaffected.

/// Arguments of a frame beyond which the look ahead stops: a command that
/// long costs far more than the loads a hint would overlap.
const MAX_ARGS: usize = 64;
/// Digits of a length beyond which the look ahead stops.
const MAX_DIGITS: usize = 10;

/// The length of the complete multibulk frame at the start of `input`,
/// and the byte range of its second argument when it has one. `None` when
/// the frame is not complete, is inline, or is anything unusual.
pub fn peek_frame(input: &[u8]) -> Option<(usize, Option<std::ops::Range<usize>>)> {
    if input.first() != Some(&b'*') {
        return None;
    }
    let (n, mut at) = number(input, 1)?;
    if n == 0 || n > MAX_ARGS {
        return None;
    }
    let mut second = None;
    for i in 0..n {
        if *input.get(at)? != b'$' {
            return None;
        }
        let (len, start) = number(input, at + 1)?;
        let end = start + len;
        // `end + 1 < input.len()` keeps both CRLF bytes in range.
        if end + 1 >= input.len() || input[end] != b'\r' || input[end + 1] != b'\n' {
            return None;
        }
        if i == 1 {
            second = Some(start..end);
        }
        at = end + 2;
    }
    Some((at, second))
}

/// The decimal number at `input[at..]` ended by CRLF, and where what
/// follows the CRLF starts. Short numbers (every count and most lengths
/// in a pipeline of small commands) take the first two tests.
#[inline(always)]
fn number(input: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = input.get(at..)?;
    if let [a, b'\r', b'\n', ..] = *rest {
        let d = a.wrapping_sub(b'0');
        return (d <= 9).then_some((d as usize, at + 3));
    }
    if let [a, b, b'\r', b'\n', ..] = *rest {
        let (d, e) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
        return (d <= 9 && e <= 9).then_some((d as usize * 10 + e as usize, at + 4));
    }
    let mut n = 0usize;
    for (i, &c) in rest.iter().enumerate().take(MAX_DIGITS + 1) {
        if c == b'\r' {
            return (i > 0 && rest.get(i + 1) == Some(&b'\n')).then_some((n, at + i + 2));
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 || i == MAX_DIGITS {
            return None;
        }
        n = n * 10 + d as usize;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Parse, Parser};

    #[test]
    fn finds_frames_and_their_keys() {
        let b = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
        let (len, key) = peek_frame(b).unwrap();
        assert_eq!(len, 22);
        assert_eq!(&b[key.unwrap()], b"foo");
        let (len2, key2) = peek_frame(&b[len..]).unwrap();
        assert_eq!((len2, key2), (14, None));
        let rest = &b[len + len2..];
        let (len3, key3) = peek_frame(rest).unwrap();
        assert_eq!(len3, rest.len());
        assert_eq!(&rest[key3.unwrap()], b"k");
    }

    #[test]
    fn stops_at_what_it_does_not_know() {
        for b in [
            &b"GET foo\r\n"[..],
            b"*2\r\n$3\r\nGET\r\n$3\r\nfo",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfooo\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"*2\r\n$-1\r\n",
            b"*2\r\n$\r\n",
            b"*99999999999\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\n\n",
            b"*2\r\n$3\r\nGET\r\n$1x\r\nfoo\r\n",
            b"*a\r\n",
            b"*1\r",
            b"*12345678901\r\n",
            b"*2\n$3\r\nGET\r\n$3\r\nfoo\r\n",
            b"",
        ] {
            assert_eq!(peek_frame(b), None, "{:?}", String::from_utf8_lossy(b));
        }
    }

    /// Every frame the look ahead measures is one the parser reads to
    /// the same end, with the same second argument.
    #[test]
    fn agrees_with_the_parser() {
        use proptest::prelude::*;
        let arg = proptest::collection::vec(any::<u8>(), 0..120);
        let cmd = proptest::collection::vec(arg, 1..5);
        proptest!(|(cmds in proptest::collection::vec(cmd, 1..6), cut in any::<prop::sample::Index>())| {
            let mut b = Vec::new();
            for c in &cmds {
                b.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
                for a in c {
                    b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    b.extend_from_slice(a);
                    b.extend_from_slice(b"\r\n");
                }
            }
            let b = &b[..cut.index(b.len() + 1)];
            let mut at = 0;
            let mut p = Parser::new();
            while let Some((len, key)) = peek_frame(&b[at..]) {
                let Ok(Parse::Complete(used)) = p.parse(&b[at..]) else {
                    panic!("the parser did not complete a frame the look ahead measured");
                };
                prop_assert_eq!(used, len);
                let args = p.args(&b[at..]);
                match key {
                    Some(k) => prop_assert_eq!(&b[at..][k], args.get(1)),
                    None => prop_assert_eq!(args.len(), 1),
                }
                at += len;
            }
        });
    }
}
