//! Just enough RESP to find the `SELECT`s in a payload: replay skips the
//! effects of a transaction that did not commit everywhere but keeps the
//! database they switched to, so the records after them apply where the
//! runtime's effects stream meant them to.

/// The database of the last well-formed `SELECT` in `resp` (a run of RESP
/// arrays of bulk strings). Stops quietly at anything malformed: the
/// payload passed its checksum, so malformed means a writer bug, and the
/// caller's full parse reports it.
pub fn last_select(resp: &[u8]) -> Option<u32> {
    let mut p = resp;
    let mut db = None;
    while !p.is_empty() {
        let (n, rest) = header(p, b'*')?;
        p = rest;
        let mut first: Option<&[u8]> = None;
        let mut second: Option<&[u8]> = None;
        for i in 0..n {
            let (len, rest) = header(p, b'$')?;
            let len = usize::try_from(len).ok()?;
            let arg = rest.get(..len)?;
            if rest.get(len..len + 2)? != b"\r\n" {
                return None;
            }
            p = &rest[len + 2..];
            match i {
                0 => first = Some(arg),
                1 => second = Some(arg),
                _ => {}
            }
        }
        if n == 2 && first.is_some_and(|a| a.eq_ignore_ascii_case(b"SELECT")) {
            db = second
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse().ok())
                .or(db);
        }
    }
    db
}

/// Parses `<kind><decimal>\r\n`.
fn header(p: &[u8], kind: u8) -> Option<(u64, &[u8])> {
    if *p.first()? != kind {
        return None;
    }
    let end = p.iter().position(|&b| b == b'\r')?;
    if p.get(end + 1) != Some(&b'\n') || !(2..=21).contains(&end) {
        return None;
    }
    let n = std::str::from_utf8(&p[1..end]).ok()?.parse().ok()?;
    Some((n, &p[end + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_select_and_ignores_other_commands() {
        let mut b = Vec::new();
        b.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n");
        b.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(last_select(&b), Some(3));
        b.extend_from_slice(b"*2\r\n$6\r\nselect\r\n$2\r\n12\r\n");
        b.extend_from_slice(b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n");
        assert_eq!(last_select(&b), Some(12));
        assert_eq!(last_select(b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"), None);
    }

    #[test]
    fn malformed_input_never_panics() {
        let good = b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n";
        for cut in 0..good.len() {
            let _ = last_select(&good[..cut]);
        }
        assert_eq!(last_select(b"*2\r\n$99999999999\r\n"), None);
        assert_eq!(last_select(b"*99999999999999999999999\r\n"), None);
        assert_eq!(last_select(b"$"), None);
    }
}
