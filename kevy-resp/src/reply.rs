//! The reply encoder: one method per RESP type, each writing the RESP3 form
//! when the connection said `HELLO 3` and Redis's RESP2 downgrade otherwise
//! (maps become flat arrays, doubles become bulk strings, booleans integers).

/// Writes replies for one connection into a byte buffer.
pub struct Reply<'a> {
    pub buf: &'a mut Vec<u8>,
    pub resp3: bool,
}

impl<'a> Reply<'a> {
    #[inline]
    pub fn new(buf: &'a mut Vec<u8>, resp3: bool) -> Self {
        Reply { buf, resp3 }
    }

    /// Another writer over the same buffer (for helpers taking `Reply` by value).
    #[inline]
    pub fn reborrow(&mut self) -> Reply<'_> {
        Reply {
            buf: self.buf,
            resp3: self.resp3,
        }
    }

    #[inline]
    fn line(&mut self, prefix: u8, body: &[u8]) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(body);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        push_i64(self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string. `s` must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, s: &[u8]) {
        self.line(b'+', s);
    }

    /// An error reply; `msg` carries its own code (`ERR …`, `WRONGTYPE …`).
    /// CR and LF become spaces, as Redis does, so the reply stays one line.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// [`Reply::error`] for a message that carries raw argument bytes.
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(
            msg.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (GET of an integer-encoded value).
    pub fn bulk_i64(&mut self, n: i64) {
        let mut tmp = itoa_buf();
        let s = fmt_i64(&mut tmp, n);
        self.bulk(s);
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, an array of `2n` in RESP2.
    #[inline]
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set: `~n` in RESP3, an array in RESP2.
    #[inline]
    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// A push frame: `>n` in RESP3, an array in RESP2.
    #[inline]
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A double: `,x` in RESP3, a bulk string in RESP2, both formatted as
    /// Redis formats them (`format_double`).
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        if self.resp3 {
            self.line(b',', s.as_bytes());
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// Verbatim text (`=len\r\nfmt:text`) in RESP3, a bulk string in RESP2.
    /// `fmt` is three bytes, e.g. `txt`.
    pub fn verbatim(&mut self, fmt: &[u8; 3], text: &[u8]) {
        if self.resp3 {
            self.header(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(fmt);
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A big number (`(digits`) in RESP3, a bulk string in RESP2.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3 {
            self.line(b'(', digits);
        } else {
            self.bulk(digits);
        }
    }

    /// Bytes that are already a complete RESP value.
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

fn fmt_i64(buf: &mut [u8; 20], n: i64) -> &[u8] {
    let mut i = buf.len();
    let neg = n < 0;
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[inline]
fn push_i64(out: &mut Vec<u8>, n: i64) {
    if (0..10).contains(&n) {
        out.push(b'0' + n as u8);
        return;
    }
    let mut tmp = itoa_buf();
    out.extend_from_slice(fmt_i64(&mut tmp, n));
}

/// Formats a double as Redis replies it: `inf`, `-inf`, `nan`, integers
/// without a fraction when exactly representable below 2^53 and otherwise
/// `%.17g`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    fmt_g17(d)
}

/// C's `%.17g`.
fn fmt_g17(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{:.16e}", d); // 17 significant digits
    let (mant, exp) = e.split_once('e').expect("exp form");
    let exp: i32 = exp.parse().expect("exponent");
    // %g goes exponential below 1e-4 and from 1e17 (precision 17) up.
    if !(-4..17).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let prec = (16 - exp).max(0) as usize;
        let s = format!("{:.*}", prec, d);
        trim_zeros(&s).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(resp3: bool, f: impl FnOnce(&mut Reply)) -> String {
        let mut v = Vec::new();
        f(&mut Reply::new(&mut v, resp3));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn shapes_downgrade_in_resp2() {
        assert_eq!(enc(false, |r| r.null()), "$-1\r\n");
        assert_eq!(enc(true, |r| r.null()), "_\r\n");
        assert_eq!(enc(false, |r| r.null_array()), "*-1\r\n");
        assert_eq!(enc(false, |r| r.map(2)), "*4\r\n");
        assert_eq!(enc(true, |r| r.map(2)), "%2\r\n");
        assert_eq!(enc(true, |r| r.set(3)), "~3\r\n");
        assert_eq!(enc(false, |r| r.boolean(true)), ":1\r\n");
        assert_eq!(enc(true, |r| r.boolean(false)), "#f\r\n");
        assert_eq!(enc(false, |r| r.double(1.5)), "$3\r\n1.5\r\n");
        assert_eq!(enc(true, |r| r.double(1.5)), ",1.5\r\n");
        assert_eq!(enc(true, |r| r.verbatim(b"txt", b"hi")), "=6\r\ntxt:hi\r\n");
        assert_eq!(enc(false, |r| r.bulk_i64(-42)), "$3\r\n-42\r\n");
        assert_eq!(enc(false, |r| r.int(i64::MIN)), ":-9223372036854775808\r\n");
        assert_eq!(enc(false, |r| r.error("ERR a\r\nb")), "-ERR a  b\r\n");
    }

    #[test]
    fn doubles_format_like_printf_17g() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(123456.789), "123456.789");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(
            format_double(6.592816949934037e-5),
            "6.5928169499340368e-05"
        );
        assert_eq!(format_double(-1.5e-5), "-1.5e-05");
    }
}
