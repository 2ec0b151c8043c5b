//! A minimal RESP2 client side for the load tools: the reply parser and the
//! command encoder. Raw bytes over std sockets, no client library, so the
//! tools measure the server rather than a client stack.

use std::fmt;
use std::io::Write;

/// One reply, borrowing its bytes from the read buffer.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Int(i64),
    Bulk(Option<&'a [u8]>),
    Array(Option<Vec<Value<'a>>>),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{}", String::from_utf8_lossy(s)),
            Value::Error(s) => write!(f, "-{}", String::from_utf8_lossy(s)),
            Value::Int(n) => write!(f, ":{n}"),
            Value::Bulk(None) => write!(f, "$-1 (nil)"),
            Value::Bulk(Some(b)) => write!(f, "${} {:?}", b.len(), b.escape_ascii().to_string()),
            Value::Array(None) => write!(f, "*-1 (nil)"),
            Value::Array(Some(items)) => {
                write!(f, "*{} [", items.len())?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A reply the parser cannot make sense of.
#[derive(Debug, PartialEq)]
pub struct ProtoError(pub String);

/// The line at the start of `buf` without its CRLF, and the bytes it took
/// with the CRLF; None when the CRLF has not arrived yet.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtoError> {
    match buf.iter().position(|&b| b == b'\n') {
        None => Ok(None),
        Some(nl) if nl > 0 && buf[nl - 1] == b'\r' => Ok(Some((&buf[..nl - 1], nl + 1))),
        Some(_) => Err(ProtoError(format!(
            "line without CR: {:?}",
            buf[..buf.len().min(64)].escape_ascii().to_string()
        ))),
    }
}

fn int(s: &[u8]) -> Result<i64, ProtoError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtoError(format!("bad integer {:?}", s.escape_ascii().to_string())))
}

const MAX_BULK: i64 = 512 << 20;
const MAX_DEPTH: usize = 32;

/// Parses one reply at the start of `buf`: Ok(Some((value, bytes used))),
/// Ok(None) when it is not complete yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Value<'_>, usize)>, ProtoError> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], depth: usize) -> Result<Option<(Value<'_>, usize)>, ProtoError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((head, mut used)) = line(&buf[1..])? else {
        return Ok(None);
    };
    used += 1;
    let v = match kind {
        b'+' => Value::Simple(head),
        b'-' => Value::Error(head),
        b':' => Value::Int(int(head)?),
        b'$' => match int(head)? {
            -1 => Value::Bulk(None),
            n @ 0..=MAX_BULK => {
                let n = n as usize;
                if buf.len() < used + n + 2 {
                    return Ok(None);
                }
                if &buf[used + n..used + n + 2] != b"\r\n" {
                    return Err(ProtoError(format!(
                        "bulk of {n} bytes not followed by CRLF"
                    )));
                }
                let data = &buf[used..used + n];
                used += n + 2;
                Value::Bulk(Some(data))
            }
            n => return Err(ProtoError(format!("bad bulk length {n}"))),
        },
        b'*' => match int(head)? {
            -1 => Value::Array(None),
            n if n >= 0 => {
                if depth >= MAX_DEPTH {
                    return Err(ProtoError("arrays nested too deep".into()));
                }
                let n = n as usize;
                // Every element takes at least 3 bytes; do not trust a huge
                // count for the allocation.
                let mut items = Vec::with_capacity(n.min((buf.len() - used) / 3 + 1));
                for _ in 0..n {
                    let Some((item, u)) = parse_at(&buf[used..], depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                    used += u;
                }
                Value::Array(Some(items))
            }
            n => return Err(ProtoError(format!("bad array length {n}"))),
        },
        other => {
            return Err(ProtoError(format!(
                "unexpected reply type byte {:?}",
                (other as char).escape_default().to_string()
            )))
        }
    };
    Ok(Some((v, used)))
}

/// Appends RESP for one command to `out`.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    // Writing to a Vec cannot fail; write! spares the temporary Strings
    // that format! would allocate per argument.
    let _ = write!(out, "*{}\r\n", args.len());
    for a in args {
        let _ = write!(out, "${}\r\n", a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &[u8]) -> Value<'_> {
        let (v, used) = parse(s).unwrap().unwrap();
        assert_eq!(used, s.len(), "{:?}", s.escape_ascii().to_string());
        v
    }

    #[test]
    fn parses_every_type() {
        assert_eq!(one(b"+OK\r\n"), Value::Simple(b"OK"));
        assert_eq!(one(b"-ERR x y\r\n"), Value::Error(b"ERR x y"));
        assert_eq!(one(b":-42\r\n"), Value::Int(-42));
        assert_eq!(one(b"$3\r\na\r\n\r\n"), Value::Bulk(Some(b"a\r\n")));
        assert_eq!(one(b"$0\r\n\r\n"), Value::Bulk(Some(b"")));
        assert_eq!(one(b"$-1\r\n"), Value::Bulk(None));
        assert_eq!(one(b"*-1\r\n"), Value::Array(None));
        assert_eq!(one(b"*0\r\n"), Value::Array(Some(vec![])));
        assert_eq!(
            one(b"*3\r\n+OK\r\n*1\r\n:1\r\n$-1\r\n"),
            Value::Array(Some(vec![
                Value::Simple(b"OK"),
                Value::Array(Some(vec![Value::Int(1)])),
                Value::Bulk(None),
            ]))
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let whole = b"*4\r\n+OK\r\n-ERR e\r\n$5\r\nhello\r\n*2\r\n:7\r\n$-1\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let (_, used) = parse(&whole[..]).unwrap().unwrap();
        assert_eq!(used, whole.len());
        // A second reply behind the first is left alone.
        let (v, used) = parse(b"+A\r\n+B\r\n").unwrap().unwrap();
        assert_eq!((v, used), (Value::Simple(b"A"), 4));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        assert!(parse(b"$-2\r\n").is_err());
        assert!(parse(b"$1\r\nab\r\n").is_err());
        assert!(parse(b"+OK\n").is_err());
    }

    #[test]
    fn encodes_a_command() {
        let mut out = Vec::new();
        command(&mut out, &[b"SET", b"k", b"xyz"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nxyz\r\n");
    }
}
