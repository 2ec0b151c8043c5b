//! Incremental RESP request parser, matching Redis 7.0's `processMultibulkBuffer`
//! and `processInlineBuffer` check for check and message for message.
//! Multibulk arguments are spans into the caller's buffer (no copying); a frame
//! still arriving keeps its progress between calls, so bytes already searched
//! are not searched again and bulk payloads are never scanned at all.

use crate::{Args, Span};

/// Bytes scanned without memchr when looking for a line's end.
const QUICK_SCAN: usize = 16;

/// Redis's `proto-max-bulk-len` default.
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Largest multibulk count accepted (Redis: `INT_MAX`).
pub const MAX_MULTIBULK_LEN: usize = i32::MAX as usize;
/// Redis's `PROTO_INLINE_MAX_SIZE`: longest inline line or header line.
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count a client that still owes `AUTH` may send.
pub const UNAUTH_MAX_MULTIBULK_LEN: usize = 10;
/// Largest bulk a client that still owes `AUTH` may send.
pub const UNAUTH_MAX_BULK_LEN: usize = 16 * 1024;

/// Spans reserved up front for a multibulk, whatever count it declares, as
/// Redis caps its first `argv` allocation: `*2147483647` must cost nothing
/// until the arguments actually arrive.
const SPANS_PREALLOC: usize = 1024;
/// Capacity the reusable buffers keep between commands; one huge command
/// must not pin its memory for the rest of the connection.
const KEEP_SPANS: usize = 16 * 1024;
const KEEP_INLINE: usize = INLINE_MAX;
/// Spans hold `u32` offsets, so the parser looks at no more of its input
/// than that; the runtime's query-buffer limit (1 GiB) stays far below.
const MAX_INPUT: usize = u32::MAX as usize;

/// Outcome of one parse attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// A whole command was parsed and `n` bytes of the input consumed; read
    /// it with [`Parser::args`]. A command with no arguments (empty inline
    /// line, `*0`, `*-1`) is also `Complete`: Redis skips it silently.
    Complete(usize),
    /// More bytes are needed; call again with the same bytes plus more.
    Partial,
}

/// A protocol error; the connection gets [`ProtoError::message`] and is
/// closed, as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    UnbalancedQuotes,
    TooBigInlineRequest,
    TooBigMbulkCountString,
    TooBigBulkCountString,
    /// Expected `$` at the start of a bulk, got this byte.
    ExpectedDollar(u8),
    /// More than [`UNAUTH_MAX_MULTIBULK_LEN`] arguments before `AUTH`
    /// (only with [`Parser::set_auth_required`]).
    UnauthenticatedMultibulkLength,
    /// A bulk over [`UNAUTH_MAX_BULK_LEN`] before `AUTH` (only with
    /// [`Parser::set_auth_required`]).
    UnauthenticatedBulkLength,
}

impl ProtoError {
    /// The error reply Redis sends, without the leading `-`. Exact except
    /// for `ExpectedDollar` with a byte of 0x80 or above, which a `String`
    /// cannot carry raw; [`ProtoError::message_bytes`] is exact always.
    pub fn message(&self) -> String {
        String::from_utf8(self.message_bytes())
            .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect())
    }

    /// The exact bytes of the error reply Redis sends, without the leading
    /// `-` and the trailing CRLF.
    pub fn message_bytes(&self) -> Vec<u8> {
        let text: &str = match self {
            ProtoError::InvalidMultibulkLength => "invalid multibulk length",
            ProtoError::InvalidBulkLength => "invalid bulk length",
            ProtoError::UnbalancedQuotes => "unbalanced quotes in request",
            ProtoError::TooBigInlineRequest => "too big inline request",
            ProtoError::TooBigMbulkCountString => "too big mbulk count string",
            ProtoError::TooBigBulkCountString => "too big bulk count string",
            ProtoError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtoError::UnauthenticatedBulkLength => "unauthenticated bulk length",
            ProtoError::ExpectedDollar(b) => {
                // Redis formats the byte with `%c` and then maps CR and LF
                // to spaces so the reply stays one line; NUL goes out raw.
                let b = if *b == b'\r' || *b == b'\n' { b' ' } else { *b };
                let mut m = b"ERR Protocol error: expected '$', got '".to_vec();
                m.push(b);
                m.push(b'\'');
                return m;
            }
        };
        let mut m = b"ERR Protocol error: ".to_vec();
        m.extend_from_slice(text.as_bytes());
        m
    }
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProtoError {}

/// Where the parser stands inside the frame at the front of the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stage {
    /// Between frames: the next call starts a new command.
    #[default]
    Idle,
    /// An inline line whose `\n` has not arrived.
    Inline,
    /// A `*<n>` line whose end has not arrived.
    Count,
    /// Inside a multibulk: `left` bulks to go; `bulk` is the length of the
    /// next one when its `$<len>` line is already read.
    Bulks { left: usize, bulk: Option<usize> },
}

/// Parses requests; reuse one per connection so its buffers stay warm.
///
/// Between a `Partial` and the next call the parser remembers how far it
/// got, relative to the start of the input: the next call must pass the same
/// bytes (possibly moved) followed by more, as the contract of
/// [`Parse::Partial`] says. An input shorter than what was already parsed,
/// or starting with a different kind of frame, makes it start over; call
/// [`Parser::reset`] when dropping buffered input any other way.
pub struct Parser {
    spans: Vec<Span>,
    /// Unescaped inline arguments (inline commands are rare; multibulk
    /// arguments are spans into the input itself).
    inline: Vec<u8>,
    is_inline: bool,
    stage: Stage,
    /// Bytes of the current frame already parsed (lines and whole bulks).
    pos: usize,
    /// Where the search for the pending line's end resumes: the bytes from
    /// `pos` up to here are known to hold no delimiter.
    scan: usize,
    /// The client still owes `AUTH`: Redis then limits command size.
    auth_required: bool,
    /// The largest argument count and bulk length accepted now: Redis's
    /// limits, or its smaller ones while `auth_required` (one compare per
    /// header either way).
    max_mbulk: i64,
    max_bulk: i64,
    /// Whole frames parsed ahead of the one `parse` last returned
    /// ([`Parser::parse_ahead`]), from `ahead_head` on: each one's length
    /// and its spans' end in `ahead_spans`, where they are kept relative
    /// to the frame's start. `parse` hands them out in order without
    /// reading their bytes again.
    ahead: [(u32, u32); AHEAD_MAX],
    ahead_head: usize,
    ahead_len: usize,
    ahead_spans: Vec<Span>,
}

/// The most frames [`Parser::parse_ahead`] reads ahead.
pub const AHEAD_MAX: usize = 16;
/// Arguments of a frame at which the look ahead stops: a command that long
/// costs far more than the loads a hint would overlap, and is parsed when
/// its turn comes.
const AHEAD_MAX_ARGS: u64 = 64;

impl Default for Parser {
    fn default() -> Self {
        Parser {
            spans: Vec::new(),
            inline: Vec::new(),
            is_inline: false,
            stage: Stage::default(),
            pos: 0,
            scan: 0,
            auth_required: false,
            max_mbulk: MAX_MULTIBULK_LEN as i64,
            max_bulk: MAX_BULK_LEN as i64,
            ahead: [(0, 0); AHEAD_MAX],
            ahead_head: 0,
            ahead_len: 0,
            ahead_spans: Vec::new(),
        }
    }
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns Redis's limits for unauthenticated clients on or off: at most
    /// [`UNAUTH_MAX_MULTIBULK_LEN`] arguments of [`UNAUTH_MAX_BULK_LEN`]
    /// bytes. Like Redis, the limits apply to headers read after the call.
    pub fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
        let (mbulk, bulk) = match required {
            true => (UNAUTH_MAX_MULTIBULK_LEN, UNAUTH_MAX_BULK_LEN),
            false => (MAX_MULTIBULK_LEN, MAX_BULK_LEN),
        };
        self.max_mbulk = mbulk as i64;
        self.max_bulk = bulk as i64;
        // Frames read ahead were held to the limits of before, as Redis
        // holds each command to those in force when it reads it.
        self.ahead_len = 0;
    }

    /// Whether the limits for unauthenticated clients are on.
    pub fn auth_required(&self) -> bool {
        self.auth_required
    }

    /// Forgets a frame in progress and the frames parsed ahead; for when
    /// buffered input is discarded.
    pub fn reset(&mut self) {
        self.stage = Stage::Idle;
        self.pos = 0;
        self.scan = 0;
        self.ahead_len = 0;
    }

    /// The caller leaves the frame `parse` last returned in its buffer, to
    /// run later: the next `parse` starts from it again, so the frames
    /// parsed ahead of it (which follow it) are dropped.
    pub fn put_back(&mut self) {
        self.ahead_len = 0;
    }

    /// Parses up to `max` (at most [`AHEAD_MAX`]) whole frames at the
    /// front of `input`, which is what follows the frame `parse` last
    /// returned, and keeps them for the next calls of `parse`, which
    /// return them in turn without reading their bytes again; `each` sees
    /// every frame (its bytes, and its arguments' spans within them) as it
    /// is read, for the runtime's look ahead at a pipeline. It stops at
    /// the first frame that is not a whole, plain multibulk of at most 64
    /// arguments within the limits (a partial frame, an inline command,
    /// anything `parse` would refuse), which `parse` then reads as usual.
    /// Returns how many frames it kept. The caller either consumes each
    /// frame `parse` returns before the next call or calls
    /// [`Self::put_back`].
    pub fn parse_ahead<'a>(
        &mut self,
        input: &'a [u8],
        max: usize,
        mut each: impl FnMut(&'a [u8], &[Span]),
    ) -> usize {
        if self.stage != Stage::Idle || self.ahead_len != 0 {
            return 0;
        }
        self.ahead_head = 0;
        self.ahead_spans.clear();
        let input = &input[..input.len().min(MAX_INPUT)];
        let mut at = 0;
        while self.ahead_len < max.min(AHEAD_MAX) {
            let frame = &input[at..];
            let first = self.ahead_spans.len();
            let Some(len) = whole_frame(
                frame,
                AHEAD_MAX_ARGS.min(self.max_mbulk as u64),
                self.max_bulk as u64,
                &mut self.ahead_spans,
            ) else {
                self.ahead_spans.truncate(first);
                break;
            };
            let end = self.ahead_spans.len();
            each(&frame[..len], &self.ahead_spans[first..end]);
            self.ahead[self.ahead_len] = (len as u32, end as u32);
            self.ahead_len += 1;
            at += len;
        }
        self.ahead_len
    }

    /// The next frame parsed ahead, as `parse` returns it.
    #[inline(always)]
    fn next_ahead(&mut self, input: &[u8]) -> Parse {
        let (len, end) = self.ahead[self.ahead_head];
        let start = match self.ahead_head {
            0 => 0,
            h => self.ahead[h - 1].1 as usize,
        };
        self.ahead_head += 1;
        self.ahead_len -= 1;
        debug_assert!(
            input.len() >= len as usize,
            "a frame parsed ahead is in the input"
        );
        self.is_inline = false;
        self.spans.clear();
        self.spans
            .extend_from_slice(&self.ahead_spans[start..end as usize]);
        Parse::Complete(len as usize)
    }

    /// Whether the last `parse` stopped inside a frame (returned `Partial`
    /// with part of a command read): the command needs more input than
    /// was passed.
    pub fn in_frame(&self) -> bool {
        self.stage != Stage::Idle
    }

    /// Parses one command from the front of `input`. Inlined, as the
    /// first step of every command in the connection loop.
    #[inline(always)]
    pub fn parse(&mut self, input: &[u8]) -> Result<Parse, ProtoError> {
        if self.ahead_len != 0 {
            return Ok(self.next_ahead(input));
        }
        let input = &input[..input.len().min(MAX_INPUT)];
        if self.stage != Stage::Idle && !self.same_frame(input) {
            self.reset();
        }
        if self.stage == Stage::Idle {
            let Some(&first) = input.first() else {
                return Ok(Parse::Partial);
            };
            self.start_frame(first != b'*');
            if first == b'*' {
                if let Some(end) = self.parse_whole(input) {
                    self.reset();
                    return Ok(Parse::Complete(end));
                }
                // Anything unusual (a partial frame, an error, leading
                // zeros) goes the general way, from the frame's start.
                self.spans.clear();
            }
        }
        let r = if self.is_inline {
            self.parse_inline(input)
        } else {
            self.parse_multibulk(input)
        };
        if !matches!(r, Ok(Parse::Partial)) {
            self.reset();
        }
        r
    }

    /// The arguments of the command the last `Complete` parse returned;
    /// `input` is the same slice that was passed to `parse`.
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        if self.is_inline {
            Args::new(&self.inline, &self.spans)
        } else {
            Args::new(input, &self.spans)
        }
    }

    /// Whether `input` can be the frame a previous call left `Partial`.
    fn same_frame(&self, input: &[u8]) -> bool {
        input.len() >= self.scan
            && input.len() >= self.pos
            && input
                .first()
                .is_some_and(|&b| (b != b'*') == self.is_inline)
    }

    fn start_frame(&mut self, inline: bool) {
        self.is_inline = inline;
        self.stage = if inline { Stage::Inline } else { Stage::Count };
        self.pos = 0;
        self.scan = 0;
        self.spans.clear();
        self.inline.clear();
        if self.spans.capacity() > KEEP_SPANS {
            self.spans.shrink_to(KEEP_SPANS);
        }
        if self.inline.capacity() > KEEP_INLINE {
            self.inline.shrink_to(KEEP_INLINE);
        }
    }

    /// Finds the next `delim` at or after `self.pos`, resuming where the
    /// last search stopped; `None` records that the input holds none.
    fn find(&mut self, input: &[u8], delim: u8) -> Option<usize> {
        let from = self.scan.max(self.pos);
        let hay = &input[from..];
        // Header lines (`$3`, `*16`) are a few bytes long: a scalar look at
        // the first bytes beats memchr's vector setup there; long lines
        // (inline commands, bad input) still get memchr.
        let quick = hay.len().min(QUICK_SCAN);
        if let Some(i) = hay[..quick].iter().position(|&b| b == delim) {
            return Some(from + i);
        }
        match memchr::memchr(delim, &hay[quick..]) {
            Some(i) => Some(from + quick + i),
            None => {
                self.scan = input.len();
                None
            }
        }
    }

    /// `processInlineBuffer`: a line up to `\n` (a `\r` before it dropped),
    /// split as `sdssplitargs` splits it.
    fn parse_inline(&mut self, input: &[u8]) -> Result<Parse, ProtoError> {
        let Some(nl) = self.find(input, b'\n') else {
            if input.len() > INLINE_MAX {
                return Err(ProtoError::TooBigInlineRequest);
            }
            return Ok(Parse::Partial);
        };
        // Redis finds the newline with strchr, which stops at a NUL byte: a
        // NUL before the newline reads as "no newline yet", and the line
        // waits for more input until it is too big.
        if memchr::memchr(0, &input[..nl]).is_some() {
            if input.len() > INLINE_MAX {
                return Err(ProtoError::TooBigInlineRequest);
            }
            return Ok(Parse::Partial);
        }
        let end = if nl > 0 && input[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        split_args(&input[..end], &mut self.inline, &mut self.spans)?;
        Ok(Parse::Complete(nl + 1))
    }

    /// The end of the line starting at `self.pos`: the index of its `\r`.
    /// Like Redis, it finds the first `\r` anywhere after `pos`, needs one
    /// more byte after it (taken to be `\n` unchecked), and gives up with
    /// `too_big` once more than [`INLINE_MAX`] bytes hold no `\r` at all.
    fn header_line(
        &mut self,
        input: &[u8],
        too_big: ProtoError,
    ) -> Result<Option<usize>, ProtoError> {
        let Some(cr) = self.find(input, b'\r') else {
            if input.len() - self.pos > INLINE_MAX {
                return Err(too_big);
            }
            return Ok(None);
        };
        if cr + 2 > input.len() {
            // The `\r` is the last byte: search from it again next time.
            self.scan = cr;
            return Ok(None);
        }
        Ok(Some(cr))
    }

    /// The common frame in one pass: a whole multibulk command whose
    /// count and lengths are plain decimals within the limits, each header
    /// ending in CRLF. It accepts exactly what the general path accepts
    /// and gives the same spans; `None` for everything else, errors and
    /// partial frames included, which the general path then reads as
    /// Redis does.
    #[inline(always)]
    fn parse_whole(&mut self, input: &[u8]) -> Option<usize> {
        whole_frame(
            input,
            self.max_mbulk as u64,
            self.max_bulk as u64,
            &mut self.spans,
        )
    }

    /// `processMultibulkBuffer`: `*<n>\r\n` then n × `$<len>\r\n<bytes>\r\n`.
    #[inline(always)]
    fn parse_multibulk(&mut self, input: &[u8]) -> Result<Parse, ProtoError> {
        if self.stage == Stage::Count {
            let Some(cr) = self.header_line(input, ProtoError::TooBigMbulkCountString)? else {
                return Ok(Parse::Partial);
            };
            // input[0] is '*', so the count is input[1..cr].
            let n = match string2ll(&input[1..cr]) {
                Some(n) if n <= self.max_mbulk => n,
                Some(n) if n <= MAX_MULTIBULK_LEN as i64 => {
                    return Err(ProtoError::UnauthenticatedMultibulkLength)
                }
                _ => return Err(ProtoError::InvalidMultibulkLength),
            };
            self.pos = cr + 2;
            self.scan = self.pos;
            if n <= 0 {
                return Ok(Parse::Complete(self.pos));
            }
            let n = n as usize; // 1..=i32::MAX
            self.spans.reserve(n.min(SPANS_PREALLOC));
            self.stage = Stage::Bulks {
                left: n,
                bulk: None,
            };
        }
        while let Stage::Bulks { left, bulk } = self.stage {
            if left == 0 {
                return Ok(Parse::Complete(self.pos));
            }
            let len = match bulk {
                Some(len) => len,
                None => {
                    let Some(cr) = self.header_line(input, ProtoError::TooBigBulkCountString)?
                    else {
                        return Ok(Parse::Partial);
                    };
                    let first = input[self.pos];
                    if first != b'$' {
                        return Err(ProtoError::ExpectedDollar(first));
                    }
                    // input[pos] is '$' and input[cr] is '\r', so pos < cr.
                    let len = match string2ll(&input[self.pos + 1..cr]) {
                        Some(l) if (0..=self.max_bulk).contains(&l) => l as usize,
                        Some(l) if (0..=MAX_BULK_LEN as i64).contains(&l) => {
                            return Err(ProtoError::UnauthenticatedBulkLength)
                        }
                        _ => return Err(ProtoError::InvalidBulkLength),
                    };
                    self.pos = cr + 2;
                    self.scan = self.pos;
                    self.stage = Stage::Bulks {
                        left,
                        bulk: Some(len),
                    };
                    len
                }
            };
            // The payload and the two bytes after it, which Redis skips
            // without checking that they are CRLF.
            if input.len() - self.pos < len + 2 {
                return Ok(Parse::Partial);
            }
            self.spans.push(Span {
                start: self.pos as u32,
                len: len as u32,
            });
            self.pos += len + 2;
            self.scan = self.pos;
            self.stage = Stage::Bulks {
                left: left - 1,
                bulk: None,
            };
        }
        // Unreachable: the loop only leaves through a return.
        Ok(Parse::Partial)
    }
}

/// [`Parser::parse_whole`] with the limits given, appending the frame's
/// spans to `spans`: the frame's length, or `None` (with some spans
/// perhaps appended) for anything but a whole, plain multibulk frame of
/// at most `max_mbulk` arguments of at most `max_bulk` bytes.
#[inline(always)]
fn whole_frame(
    input: &[u8],
    max_mbulk: u64,
    max_bulk: u64,
    spans: &mut Vec<Span>,
) -> Option<usize> {
    if input.first() != Some(&b'*') {
        return None;
    }
    let (n, mut pos) = plain_decimal(input, 1)?;
    if n == 0 || n > max_mbulk {
        return None;
    }
    spans.reserve((n as usize).min(SPANS_PREALLOC));
    for _ in 0..n {
        if *input.get(pos)? != b'$' {
            return None;
        }
        let (len, at) = plain_decimal(input, pos + 1)?;
        if len > max_bulk || input.len() - at < len as usize + 2 {
            return None;
        }
        spans.push(Span {
            start: at as u32,
            len: len as u32,
        });
        pos = at + len as usize + 2;
    }
    Some(pos)
}

/// The decimal at `input[at..]` and the index after the CRLF that ends
/// it, when it is a plain one: `0`, or 1 to 18 digits without a leading
/// zero, then `\r\n`. Anything else (a sign, more digits, no CRLF yet) is
/// `None`, for [`string2ll`]'s general reading.
#[inline(always)]
fn plain_decimal(input: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = input.get(at)?.wrapping_sub(b'0');
    if first > 9 {
        return None;
    }
    let mut v = u64::from(first);
    let mut i = at + 1;
    loop {
        let d = input.get(i)?.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if first == 0 || i - at >= 18 {
            return None;
        }
        v = v * 10 + u64::from(d);
        i += 1;
    }
    if input[i] != b'\r' || *input.get(i + 1)? != b'\n' {
        return None;
    }
    Some((v, i + 2))
}

/// Redis's `string2ll`: a strict decimal `i64`: optional `-`, no `+`, no
/// spaces, no leading zeros except a lone `0`, at most 20 bytes.
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    /// Redis's `LONG_STR_SIZE`: 21 bytes or more is never a valid number.
    const LONG_STR_SIZE: usize = 21;
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(v))
    } else {
        i64::try_from(v).ok()
    }
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits a line as Redis's `sdssplitargs` does (config and ACL files);
/// `None` for unbalanced quotes.
pub fn split_line(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (mut out, mut spans) = (Vec::new(), Vec::new());
    split_args(line, &mut out, &mut spans).ok()?;
    Some(
        spans
            .iter()
            .map(|s| out[s.start as usize..(s.start + s.len) as usize].to_vec())
            .collect(),
    )
}

/// Redis's `sdssplitargs`, appending the unescaped arguments to `out` and
/// their spans to `spans`. It runs on a C string, so reading past the end
/// yields NUL, and a NUL byte inside the line ends it just as the end does.
fn split_args(line: &[u8], out: &mut Vec<u8>, spans: &mut Vec<Span>) -> Result<(), ProtoError> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Ok(());
        }
        let start = out.len();
        let (mut inq, mut insq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        out.push(hi * 16 + lo);
                        p += 3;
                    } else {
                        // `\x` without two hex digits: an ordinary escape of 'x'.
                        p += 1;
                        out.push(b'x');
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or nothing.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(ProtoError::UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(ProtoError::UnbalancedQuotes);
                } else {
                    out.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(ProtoError::UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(ProtoError::UnbalancedQuotes);
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => out.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        spans.push(Span {
            start: start as u32,
            len: (out.len() - start) as u32,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Argv = Vec<Vec<u8>>;

    fn argv(p: &Parser, input: &[u8]) -> Argv {
        p.args(input).iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn in_frame_while_a_command_is_cut_short() {
        let mut p = Parser::new();
        assert!(!p.in_frame());
        let frame = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(p.parse(&frame[..9]), Ok(Parse::Partial));
        assert!(p.in_frame());
        assert_eq!(p.parse(frame), Ok(Parse::Complete(frame.len())));
        assert!(!p.in_frame());
        assert_eq!(p.parse(b"GET k"), Ok(Parse::Partial));
        assert!(p.in_frame());
        assert_eq!(p.parse(b""), Ok(Parse::Partial));
        assert!(!p.in_frame());
    }

    /// A valid frame: every strict prefix is `Partial` (from a fresh parser
    /// and from one fed the growing prefixes in turn), the whole is
    /// `Complete(len)` with `want`, and trailing bytes are left alone.
    fn check_ok(input: &[u8], want: &[&[u8]]) {
        let want: Argv = want.iter().map(|a| a.to_vec()).collect();
        let show = String::from_utf8_lossy(input);
        let mut fed = Parser::new();
        for cut in 0..input.len() {
            let prefix = &input[..cut];
            assert_eq!(
                Parser::new().parse(prefix),
                Ok(Parse::Partial),
                "fresh, prefix {cut} of {show:?}"
            );
            assert_eq!(
                fed.parse(prefix),
                Ok(Parse::Partial),
                "fed, prefix {cut} of {show:?}"
            );
        }
        assert_eq!(
            fed.parse(input),
            Ok(Parse::Complete(input.len())),
            "{show:?}"
        );
        assert_eq!(argv(&fed, input), want, "{show:?}");

        let mut more = input.to_vec();
        more.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut p = Parser::new();
        assert_eq!(
            p.parse(&more),
            Ok(Parse::Complete(input.len())),
            "{show:?} + more"
        );
        assert_eq!(argv(&p, &more), want);
        let rest = &more[input.len()..];
        assert_eq!(p.parse(rest), Ok(Parse::Complete(rest.len())));
        assert_eq!(argv(&p, rest), [b"PING".to_vec()]);
    }

    /// An invalid frame: prefixes are `Partial` until the error shows, and
    /// from there on every longer prefix gives the same error. A fresh
    /// parser checks a sample of the prefixes of long inputs (all of them
    /// would be quadratic); the fed one sees every prefix.
    fn check_err(input: &[u8], want: ProtoError) {
        let show = String::from_utf8_lossy(&input[..input.len().min(40)]);
        let mut fed = Parser::new();
        let mut failed = false;
        for cut in 0..=input.len() {
            let prefix = &input[..cut];
            let got = fed.parse(prefix);
            if input.len() < 4096
                || cut % 4096 == 0
                || cut.abs_diff(INLINE_MAX) < 8
                || cut + 8 > input.len()
            {
                assert_eq!(
                    Parser::new().parse(prefix),
                    got,
                    "fed vs fresh, prefix {cut} of {show:?}"
                );
            }
            match got {
                Ok(Parse::Partial) => {
                    assert!(!failed, "Partial after the error, prefix {cut} of {show:?}")
                }
                Err(e) => {
                    assert_eq!(e, want, "prefix {cut} of {show:?}");
                    failed = true;
                }
                Ok(c) => panic!("{c:?} at prefix {cut} of {show:?}"),
            }
        }
        assert!(failed, "no error for {show:?}");
    }

    /// `req!(name, input, [args…])` or `req!(name, input, Err(error))`.
    macro_rules! req {
        ($name:ident, $input:expr, [$($arg:expr),* $(,)?]) => {
            #[test]
            fn $name() {
                check_ok($input, &[$(&$arg[..]),*]);
            }
        };
        ($name:ident, $input:expr, Err($err:expr)) => {
            #[test]
            fn $name() {
                check_err($input, $err);
            }
        };
    }

    // Multibulk.
    req!(mb_ping, b"*1\r\n$4\r\nPING\r\n", [b"PING"]);
    req!(
        mb_set,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
        [b"SET", b"k", b"value"]
    );
    req!(
        mb_empty_arg,
        b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
        [b"ECHO", b""]
    );
    req!(
        mb_binary,
        b"*2\r\n$4\r\nECHO\r\n$7\r\na\r\nb\0c\n\r\n",
        [b"ECHO", b"a\r\nb\0c\n"]
    );
    req!(
        mb_ten_digit_len,
        b"*1\r\n$10\r\n0123456789\r\n",
        [b"0123456789"]
    );
    req!(mb_zero, b"*0\r\n", []);
    req!(mb_null, b"*-1\r\n", []);
    req!(mb_negative, b"*-100\r\n", []);
    // Redis skips the two bytes after a payload without looking at them.
    req!(mb_trailer_unchecked, b"*1\r\n$1\r\naXY", [b"a"]);
    // ...and the byte after a header's '\r'.
    req!(mb_header_lf_unchecked, b"*1\rX$4\rXPING\r\n", [b"PING"]);
    req!(mb_high_bytes, b"*1\r\n$2\r\n\xff\x80\r\n", [b"\xff\x80"]);

    // Inline.
    req!(inline_ping, b"PING\r\n", [b"PING"]);
    req!(inline_lf_only, b"PING\n", [b"PING"]);
    req!(inline_args, b"SET k v\r\n", [b"SET", b"k", b"v"]);
    req!(
        inline_blanks,
        b" \t SET \t k   v  \r\n",
        [b"SET", b"k", b"v"]
    );
    req!(inline_empty_crlf, b"\r\n", []);
    req!(inline_empty_lf, b"\n", []);
    req!(inline_only_blanks, b"   \t \r\n", []);
    req!(inline_double_cr, b"\r\r\n", []);
    req!(inline_cr_splits, b"GET a\rb\r\n", [b"GET", b"a", b"b"]);
    req!(inline_star_not_first, b" *1\r\n", [b"*1"]);
    req!(
        inline_high_bytes,
        b"GET \xff\xfe\r\n",
        [b"GET", b"\xff\xfe"]
    );
    req!(inline_dq, b"SET \"a b\" c\r\n", [b"SET", b"a b", b"c"]);
    req!(inline_empty_quotes, b"SET \"\" ''\r\n", [b"SET", b"", b""]);
    req!(
        inline_dq_escapes,
        b"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\x41\\x7a\\xFF\\x00\"\r\n",
        [b"ECHO", b"\n\r\t\x08\x07\\\"Az\xff\0"]
    );
    // `\x` without two hex digits is an escaped 'x'; unknown escapes are the byte.
    req!(
        inline_dq_bad_hex,
        b"\"\\xZZ\" \"\\x4\" \"\\q\"\r\n",
        [b"xZZ", b"x4", b"q"]
    );
    req!(
        inline_sq,
        b"'it\\'s' 'a\\nb' '\"'\r\n",
        [b"it's", b"a\\nb", b"\""]
    );
    req!(
        inline_quote_mid_token,
        b"foo\"bar\" a'b c'\r\n",
        [b"foobar", b"ab c"]
    );
    // `isspace` (with \v and \f) separates after a quote and before a token,
    // but only space, tab, CR and LF end an unquoted token.
    req!(
        inline_vt_ff,
        b"\x0cGET \"a\"\x0bb c\x0bd\r\n",
        [b"GET", b"a", b"b", b"c\x0bd"]
    );
    // The line is a C string to sdssplitargs: a NUL ends it.

    // Errors.
    req!(
        err_mb_count_alpha,
        b"*abc\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_empty,
        b"*\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_plus,
        b"*+1\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_space,
        b"* 1\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_trailing_space,
        b"*1 \r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_leading_zero,
        b"*01\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_minus_zero,
        b"*-0\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_minus,
        b"*-\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_int_max_plus_1,
        b"*2147483648\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_overflow,
        b"*99999999999999999999\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_mb_count_21_bytes,
        b"*-00000000000000000001\r\n",
        Err(ProtoError::InvalidMultibulkLength)
    );
    req!(
        err_bulk_len_null,
        b"*1\r\n$-1\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_bulk_len_over_max,
        b"*1\r\n$536870913\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_bulk_len_2gb,
        b"*1\r\n$2147483648\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_bulk_len_i64_max,
        b"*1\r\n$9223372036854775807\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_bulk_len_empty,
        b"*1\r\n$\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_bulk_len_alpha,
        b"*1\r\n$x\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_bulk_len_leading_zero,
        b"*1\r\n$03\r\nfoo\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    // The header ends at the first '\r', wherever it is.
    req!(
        err_bulk_len_lf_only,
        b"*1\r\n$3\nfoo\r\n",
        Err(ProtoError::InvalidBulkLength)
    );
    req!(
        err_expected_dollar,
        b"*1\r\nX\r\n",
        Err(ProtoError::ExpectedDollar(b'X'))
    );
    req!(
        err_expected_dollar_colon,
        b"*1\r\n:1\r\n",
        Err(ProtoError::ExpectedDollar(b':'))
    );
    req!(
        err_expected_dollar_cr,
        b"*1\r\n\r\n",
        Err(ProtoError::ExpectedDollar(b'\r'))
    );
    req!(
        err_expected_dollar_second,
        b"*2\r\n$1\r\na\r\n*1\r\n",
        Err(ProtoError::ExpectedDollar(b'*'))
    );
    req!(
        err_dq_unterminated,
        b"SET \"foo\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_sq_unterminated,
        b"SET 'foo\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_dq_followed,
        b"\"foo\"bar\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_sq_followed,
        b"'foo'bar\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_dq_twice,
        b"\"a\"\"b\"\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_dq_escaped_close,
        b"\"foo\\\"\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_dq_backslash_at_end,
        b"\"foo\\\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );
    req!(
        err_quote_mid_token_open,
        b"a\"b\r\n",
        Err(ProtoError::UnbalancedQuotes)
    );

    /// Redis looks for an inline line's newline with strchr, so a NUL byte
    /// before it means "no newline yet": no reply, until the line is too big.
    #[test]
    fn inline_nul_before_newline_waits() {
        let mut p = Parser::new();
        assert_eq!(p.parse(b"GET a\0b c\r\n"), Ok(Parse::Partial));
        let mut p = Parser::new();
        assert_eq!(p.parse(b"\"fo\0o\"\r\n"), Ok(Parse::Partial));
        let mut big = b"GET a\0\r\n".to_vec();
        big.resize(INLINE_MAX + 1, b'x');
        let mut p = Parser::new();
        assert_eq!(p.parse(&big), Err(ProtoError::TooBigInlineRequest));
    }

    #[test]
    fn too_big_lines() {
        // Over INLINE_MAX bytes without the delimiter; exactly INLINE_MAX waits.
        let inline = vec![b'a'; INLINE_MAX + 1];
        check_err(&inline, ProtoError::TooBigInlineRequest);
        assert_eq!(
            Parser::new().parse(&inline[..INLINE_MAX]),
            Ok(Parse::Partial)
        );

        let mut count = b"*".to_vec();
        count.resize(INLINE_MAX + 1, b'1');
        check_err(&count, ProtoError::TooBigMbulkCountString);
        assert_eq!(
            Parser::new().parse(&count[..INLINE_MAX]),
            Ok(Parse::Partial)
        );

        let mut bulk = b"*1\r\n$".to_vec();
        bulk.resize(4 + INLINE_MAX + 1, b'1');
        check_err(&bulk, ProtoError::TooBigBulkCountString);
        assert_eq!(
            Parser::new().parse(&bulk[..4 + INLINE_MAX]),
            Ok(Parse::Partial)
        );

        // A line longer than that which arrives whole is still parsed, as
        // Redis only measures lines still waiting for their end.
        let mut long = b"ECHO ".to_vec();
        long.resize(INLINE_MAX * 2, b'a');
        long.extend_from_slice(b"\r\n");
        let mut p = Parser::new();
        assert_eq!(p.parse(&long), Ok(Parse::Complete(long.len())));
        assert_eq!(p.args(&long).get(1).len(), INLINE_MAX * 2 - 5);

        // A header whose '\r' comes that late is an invalid length instead.
        let mut late = bulk.clone();
        late.extend_from_slice(b"\r\n");
        assert_eq!(
            Parser::new().parse(&late),
            Err(ProtoError::InvalidBulkLength)
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let mut p = Parser::new();
        assert_eq!(p.parse(b"*2147483647\r\n"), Ok(Parse::Partial));
        // The declared count reserves nothing beyond the cap.
        assert!(p.spans.capacity() <= SPANS_PREALLOC);
        assert_eq!(
            Parser::new().parse(b"*1\r\n$536870912\r\n"),
            Ok(Parse::Partial)
        );
    }

    #[test]
    fn messages_are_redis_exact() {
        let cases: &[(ProtoError, &str)] = &[
            (
                ProtoError::InvalidMultibulkLength,
                "ERR Protocol error: invalid multibulk length",
            ),
            (
                ProtoError::InvalidBulkLength,
                "ERR Protocol error: invalid bulk length",
            ),
            (
                ProtoError::UnbalancedQuotes,
                "ERR Protocol error: unbalanced quotes in request",
            ),
            (
                ProtoError::TooBigInlineRequest,
                "ERR Protocol error: too big inline request",
            ),
            (
                ProtoError::TooBigMbulkCountString,
                "ERR Protocol error: too big mbulk count string",
            ),
            (
                ProtoError::TooBigBulkCountString,
                "ERR Protocol error: too big bulk count string",
            ),
            (
                ProtoError::ExpectedDollar(b'X'),
                "ERR Protocol error: expected '$', got 'X'",
            ),
            (
                ProtoError::ExpectedDollar(b'\r'),
                "ERR Protocol error: expected '$', got ' '",
            ),
            (
                ProtoError::ExpectedDollar(b'\n'),
                "ERR Protocol error: expected '$', got ' '",
            ),
            (
                ProtoError::ExpectedDollar(0),
                "ERR Protocol error: expected '$', got '\0'",
            ),
            (
                ProtoError::UnauthenticatedMultibulkLength,
                "ERR Protocol error: unauthenticated multibulk length",
            ),
            (
                ProtoError::UnauthenticatedBulkLength,
                "ERR Protocol error: unauthenticated bulk length",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.message(), *want);
            assert_eq!(e.message_bytes(), want.as_bytes());
            assert_eq!(e.to_string(), *want);
        }
        let raw = ProtoError::ExpectedDollar(0xff).message_bytes();
        assert_eq!(raw, b"ERR Protocol error: expected '$', got '\xff'");
        assert_eq!(
            ProtoError::ExpectedDollar(0xff).message(),
            "ERR Protocol error: expected '$', got '\u{ff}'"
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let mut p = Parser::new();
        p.set_auth_required(true);
        assert_eq!(
            p.parse(b"*11\r\n"),
            Err(ProtoError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(p.parse(b"*10\r\n"), Ok(Parse::Partial));
        p.reset();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n"),
            Err(ProtoError::UnauthenticatedBulkLength)
        );
        assert_eq!(p.parse(b"*1\r\n$16384\r\n"), Ok(Parse::Partial));
        p.reset();
        // Invalid lengths are still reported as such first.
        assert_eq!(
            p.parse(b"*2147483648\r\n"),
            Err(ProtoError::InvalidMultibulkLength)
        );
        assert_eq!(p.parse(b"*-5\r\n"), Ok(Parse::Complete(5)));
        p.set_auth_required(false);
        assert_eq!(p.parse(b"*11\r\n"), Ok(Parse::Partial));
    }

    #[test]
    fn reset_forgets_a_partial_frame() {
        let mut p = Parser::new();
        assert_eq!(p.parse(b"*2\r\n$3\r\nGET\r\n"), Ok(Parse::Partial));
        p.reset();
        let ping = b"*1\r\n$4\r\nPING\r\n";
        assert_eq!(p.parse(ping), Ok(Parse::Complete(ping.len())));
        assert_eq!(argv(&p, ping), [b"PING".to_vec()]);
        // A shorter input than the parsed part, or another kind of frame,
        // starts over on its own.
        assert_eq!(p.parse(b"*2\r\n$3\r\nGET\r\n$1\r"), Ok(Parse::Partial));
        assert_eq!(p.parse(b"PING\r\n"), Ok(Parse::Complete(6)));
        assert_eq!(p.parse(b"*2\r\n$3\r\nGET\r\n$1\r"), Ok(Parse::Partial));
        assert_eq!(p.parse(b"*1\r\n"), Ok(Parse::Partial));
    }

    /// Every valid frame of the tables above, for the pipeline tests.
    const PIPELINE: &[(&[u8], &[&[u8]])] = &[
        (b"*1\r\n$4\r\nPING\r\n", &[b"PING"]),
        (b"PING\r\n", &[b"PING"]),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
            &[b"SET", b"k", b"value"],
        ),
        (b"\r\n", &[]),
        (b"*0\r\n", &[]),
        (b"SET \"a b\" 'c d'\n", &[b"SET", b"a b", b"c d"]),
        (
            b"*2\r\n$4\r\nECHO\r\n$7\r\na\r\nb\0c\n\r\n",
            &[b"ECHO", b"a\r\nb\0c\n"],
        ),
        (b"*-1\r\n", &[]),
        (b"*1\r\n$1\r\naXY", &[b"a"]),
        (b"ECHO \"\\x41\\n\"\r\n", &[b"ECHO", b"A\n"]),
        (b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", &[b"GET", b""]),
    ];

    /// Runs `stream` through one parser the way the runtime does, the bytes
    /// arriving `chunk` at a time; the argvs of the commands, in order.
    fn run_stream(stream: &[u8], chunk: usize) -> Result<Vec<Argv>, ProtoError> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        let (mut start, mut end) = (0, 0);
        loop {
            let input = &stream[start..end];
            match p.parse(input)? {
                Parse::Complete(n) => {
                    assert!(n > 0 && n <= input.len());
                    out.push(argv(&p, input));
                    start += n;
                }
                Parse::Partial if end == stream.len() => {
                    assert_eq!(start, end, "bytes left over");
                    return Ok(out);
                }
                Parse::Partial => end = (end + chunk).min(stream.len()),
            }
        }
    }

    #[test]
    fn pipelines_consume_one_command_at_a_time() {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (frame, args) in PIPELINE {
            stream.extend_from_slice(frame);
            want.push(args.iter().map(|a| a.to_vec()).collect::<Argv>());
        }
        for chunk in 1..=stream.len() {
            assert_eq!(
                run_stream(&stream, chunk),
                Ok(want.clone()),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn string2ll_is_strict() {
        for (s, want) in [
            (&b"0"[..], Some(0)),
            (b"-1", Some(-1)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"18446744073709551616", None),
            (b"", None),
            (b"-", None),
            (b"-0", None),
            (b"00", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1a", None),
        ] {
            assert_eq!(string2ll(s), want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Bytes likely to reach deep into the parser, glued at random.
    fn token_soup() -> impl Strategy<Value = Vec<u8>> {
        let tokens: &[&[u8]] = &[
            b"*", b"$", b"\r\n", b"\r", b"\n", b"0", b"1", b"3", b"-1", b"12", b"abc", b"\"", b"'",
            b"\\", b"\\x4", b"f", b" ", b"\t", b"\0", b"\xff",
        ];
        prop::collection::vec(prop::sample::select(tokens), 0..60).prop_map(|ts| ts.concat())
    }

    /// Parses like the runtime until `Partial` or an error, checking that
    /// every `Complete` consumes something within the input.
    fn drain(p: &mut Parser, input: &[u8]) {
        let mut at = 0;
        while let Ok(Parse::Complete(n)) = p.parse(&input[at..]) {
            assert!(n > 0 && n <= input.len() - at);
            for a in p.args(&input[at..]).iter() {
                let _ = a.len();
            }
            at += n;
        }
    }

    proptest! {
        #[test]
        fn multibulk_round_trips(
            args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..10),
            mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let frame = encode(&args);
            let mut p = Parser::new();
            prop_assert_eq!(p.parse(&frame), Ok(Parse::Complete(frame.len())));
            prop_assert_eq!(argv(&p, &frame), args.clone());

            // The same frame fed as growing prefixes to one parser.
            let mut cuts: Vec<usize> = cuts.drain(..).map(|i| i.index(frame.len())).collect();
            cuts.sort_unstable();
            let mut p = Parser::new();
            for &c in &cuts {
                prop_assert_eq!(p.parse(&frame[..c]), Ok(Parse::Partial));
            }
            prop_assert_eq!(p.parse(&frame), Ok(Parse::Complete(frame.len())));
            prop_assert_eq!(argv(&p, &frame), args);
        }

        #[test]
        fn pipelines_survive_any_chunking(
            cmds in prop::collection::vec(
                prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..5), 1..6),
            chunk in 1usize..64,
        ) {
            let stream: Vec<u8> = cmds.iter().flat_map(|c| encode(c)).collect();
            prop_assert_eq!(run_stream(&stream, chunk), Ok(cmds));
        }

        #[test]
        fn quoted_inline_round_trips(
            args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 1..6),
            blanks in prop::collection::vec(prop::sample::select(&[" ", "\t", "  ", " \t "][..]), 6),
        ) {
            let mut line = Vec::new();
            for (a, blank) in args.iter().zip(&blanks) {
                line.push(b'"');
                for b in a {
                    line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                }
                line.push(b'"');
                line.extend_from_slice(blank.as_bytes());
            }
            line.extend_from_slice(b"\r\n");
            let mut p = Parser::new();
            prop_assert_eq!(p.parse(&line), Ok(Parse::Complete(line.len())));
            prop_assert_eq!(argv(&p, &line), args);
        }

        /// The one-pass reading of a whole frame agrees with the general
        /// path (which a frame takes once it was seen partial) on every
        /// input: the same result, the same arguments.
        #[test]
        fn whole_frame_reading_agrees_with_the_general_path(
            soup in token_soup(),
            args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..6),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut frame = encode(&args);
            for (i, b) in &flips {
                let i = i.index(frame.len());
                frame[i] = *b;
            }
            let frame = frame[..cut.index(frame.len() + 1).max(1)].to_vec();
            for input in [[b"*".as_slice(), &soup].concat(), frame] {
                let mut whole = Parser::new();
                let got = whole.parse(&input);
                let mut general = Parser::new();
                // A lone newline is a whole (empty) inline command; any
                // other first byte leaves the general path partway.
                let want = match general.parse(&input[..1]) {
                    Ok(Parse::Partial) => general.parse(&input),
                    first => {
                        prop_assert_eq!(input[0], b'\n');
                        first
                    }
                };
                prop_assert_eq!(&got, &want, "{:?}", String::from_utf8_lossy(&input));
                if let Ok(Parse::Complete(_)) = got {
                    prop_assert_eq!(argv(&whole, &input), argv(&general, &input));
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            drain(&mut Parser::new(), &bytes);
        }

        #[test]
        fn token_soup_never_panics(bytes in token_soup()) {
            drain(&mut Parser::new(), &bytes);
            let mut star = b"*".to_vec();
            star.extend_from_slice(&bytes);
            drain(&mut Parser::new(), &star);
        }

        /// Remembering progress between calls is invisible: feeding every
        /// prefix to one parser answers as a fresh parser does each time.
        #[test]
        fn resuming_matches_starting_over(bytes in token_soup()) {
            let mut input = b"*3\r\n".to_vec();
            input.extend_from_slice(&bytes);
            for start in [&input[..], &bytes[..]] {
                let mut fed = Parser::new();
                for cut in 0..=start.len() {
                    let prefix = &start[..cut];
                    let mut fresh = Parser::new();
                    let want = fresh.parse(prefix);
                    prop_assert_eq!(fed.parse(prefix), want);
                    if let Ok(Parse::Complete(_)) = want {
                        prop_assert_eq!(argv(&fed, prefix), argv(&fresh, prefix));
                        break;
                    }
                    if want.is_err() {
                        break;
                    }
                }
            }
        }

        /// Parsing ahead changes nothing the parser returns: a stream of
        /// commands (plain multibulk, inline, longer than the look ahead
        /// takes, with a leading zero, then bytes at random) read with
        /// looks ahead of every length after any command, some frames put
        /// back and read again, gives what it gives without, and each
        /// frame a look sees is the one `parse` returns there.
        #[test]
        fn parsing_ahead_changes_nothing(
            cmds in prop::collection::vec(
                (0u8..4, prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 1..4)),
                0..24),
            tail in token_soup(),
            plan in prop::collection::vec((0usize..20, any::<bool>(), any::<bool>()), 1..40),
            unauth in any::<bool>(),
        ) {
            let mut stream = Vec::new();
            for (kind, args) in &cmds {
                match kind {
                    0 => stream.extend_from_slice(&encode(args)),
                    1 => stream.extend_from_slice(b"PING  x\r\n"),
                    2 => stream.extend_from_slice(&encode(&vec![b"a".to_vec(); 70])),
                    _ => stream.extend_from_slice(b"*02\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
                }
            }
            stream.extend_from_slice(&tail);
            let parse_all = |plan: &[(usize, bool, bool)]| {
                let mut p = Parser::new();
                p.set_auth_required(unauth);
                let (mut at, mut out, mut seen) = (0, Vec::new(), Vec::new());
                let mut step = 0;
                loop {
                    let input = &stream[at..];
                    let r = p.parse(input);
                    let Ok(Parse::Complete(n)) = r else {
                        out.push((at, r.map(|_| Vec::new())));
                        return (out, seen);
                    };
                    let (ahead, back, unlock) = plan.get(step).copied().unwrap_or((0, false, false));
                    step += 1;
                    if back {
                        // Left in the buffer, as a paused command is.
                        p.put_back();
                        continue;
                    }
                    out.push((at, Ok(argv(&p, input))));
                    at += n;
                    if unlock && unauth {
                        p.set_auth_required(false);
                    }
                    let mut off = at;
                    let k = p.parse_ahead(&stream[at..], ahead, |frame, spans| {
                        let args: Argv = spans.iter().map(|s| frame[s.range()].to_vec()).collect();
                        seen.push((off, args));
                        off += frame.len();
                    });
                    assert!(k <= ahead.min(AHEAD_MAX));
                }
            };
            let (want, none) = parse_all(&[]);
            prop_assert!(none.is_empty());
            let (got, seen) = parse_all(&plan);
            if plan.iter().all(|&(_, _, unlock)| !unlock) || !unauth {
                prop_assert_eq!(&got, &want);
            }
            for (off, args) in seen {
                let at = got.iter().find(|(at, _)| *at == off);
                prop_assert_eq!(at.map(|(_, r)| r.clone()), Some(Ok(args)));
            }
        }
    }
}
