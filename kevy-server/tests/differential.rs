//! Differential test: every case in `tests/cases/*.txt` is sent to a real
//! `redis-server` and to `kevy-server` (once per entry of `KEVY_CORES`), and
//! the raw reply bytes must be identical. Redis is the specification; kevy
//! either matches it byte for byte or the difference is a bug.
//!
//! All servers run side by side and each command goes to all of them before
//! any reply is read, so time-dependent cases (TTLs) see the same clock.
//!
//! # Case files
//!
//! A case is a block of non-blank lines; blank lines separate cases. Each
//! case starts on a fresh connection (so SELECT, HELLO and CLIENT SETNAME
//! never leak) after FLUSHALL on every server. Lines starting with `#` are
//! comments. Every other line is a command in redis-cli quoting
//! (`SET k "a b\r\n"`, `SET k 'it''s'`, `"\xff"` for any byte), sent as a
//! RESP multibulk and compared exactly, unless it starts with a directive:
//!
//! | line                  | meaning                                                  |
//! |-----------------------|----------------------------------------------------------|
//! | `!sorted CMD`         | sort every aggregate in the reply (recursively) first    |
//! | `!type CMD`           | compare only the reply's type (array, error, integer…)   |
//! | `!skip CMD`           | send and read the reply, compare nothing                 |
//! | `!approx N CMD`       | integers may differ by up to N (recursively)             |
//! | `!mask f1,f2 CMD`     | in a map or flat key/value array reply, compare only the |
//! |                       | type of the values of fields f1, f2 (e.g. HELLO's `id`)  |
//! | `!scanall CMD`        | CMD is `SCAN 0 …` (or `[HSZ]SCAN key 0 …`): iterate to   |
//! |                       | cursor 0, compare the union of all elements as a set     |
//! | `!raw BYTES`          | send BYTES literally (escapes `\r \n \t \0 \\ \xHH`),    |
//! |                       | then compare everything that arrives until the server    |
//! |                       | goes quiet, and whether it closed the connection         |
//! | `!sleep MS`           | sleep MS milliseconds                                    |
//! | `!reconnect`          | continue the case on a new connection (no FLUSHALL)      |
//!
//! After a connection is closed (protocol errors close it), the remaining
//! lines of the case compare as "connection closed".
//!
//! # Environment
//!
//! - `KEVY_SKIP_DIFF=1`: skip this test (otherwise a missing `redis-server`
//!   or a kevy that does not start fails it).
//! - `KEVY_DIFF_AGAINST_REDIS=1`: run the kevy side on more redis-servers.
//!   Every case must pass this way; it proves the cases are deterministic.
//! - `KEVY_DIFF_FILTER=strings`: only case files whose name contains this.
//! - `KEVY_DIFF_CORES=1,3`: override the `--cores` values kevy runs with.
//! - `KEVY_DIFF_DUMP=1`: print every line with redis's reply (run with
//!   `--nocapture`), to check that a new case tests what it should.

mod common;

use common::resp::{self, escape, Conn, ReadError, Value};
use common::Server;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// kevy runs every case once per entry: one shard, and more shards than
/// the CI box has cores, so cross-shard paths give identical results.
const KEVY_CORES: &[usize] = &[1, 3];

/// How long a `!raw` line waits for the server to go quiet.
const RAW_QUIET: Duration = Duration::from_millis(100);
/// How much longer a `!raw` line waits for a server that has sent less
/// than Redis did.
const RAW_PATIENCE: Duration = Duration::from_secs(2);

/// A SCAN that has not reached cursor 0 after this many calls is a bug.
const SCAN_MAX_CALLS: usize = 100_000;

/// Mismatches shown in full per target; the rest are counted.
const MAX_SHOWN: usize = 200;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

// ---------------------------------------------------------------------------
// Case files

#[derive(Clone, Debug, PartialEq)]
enum Check {
    Exact,
    Sorted,
    Type,
    Skip,
    Approx(i64),
    Mask(Vec<Vec<u8>>),
}

#[derive(Debug)]
enum Action {
    Command {
        args: Vec<Vec<u8>>,
        check: Check,
    },
    ScanAll {
        args: Vec<Vec<u8>>,
        cursor_at: usize,
        pairs: bool,
    },
    Raw(Vec<u8>),
    Sleep(Duration),
    Reconnect,
}

#[derive(Debug)]
struct Step {
    line: usize,
    text: String,
    action: Action,
}

#[derive(Debug)]
struct Case {
    file: String,
    line: usize,
    steps: Vec<Step>,
}

fn load_cases(filter: Option<&str>) -> Vec<Case> {
    let dir = cases_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| match filter {
            None => true,
            Some(f) => p.file_name().unwrap().to_string_lossy().contains(f),
        })
        .collect();
    files.sort();
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let name = format!("cases/{}", path.file_name().unwrap().to_string_lossy());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match parse_case_file(&name, &text) {
            Ok(mut c) => cases.append(&mut c),
            Err(e) => errors.push(e),
        }
    }
    assert!(errors.is_empty(), "bad case files:\n{}", errors.join("\n"));
    cases
}

fn parse_case_file(file: &str, text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    let mut errors = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() {
            if let Some(c) = current.take() {
                if !c.steps.is_empty() {
                    cases.push(c);
                }
            }
            continue;
        }
        let case = current.get_or_insert_with(|| Case {
            file: file.to_string(),
            line,
            steps: Vec::new(),
        });
        if trimmed.starts_with('#') {
            continue;
        }
        match parse_step(trimmed) {
            Ok(action) => case.steps.push(Step {
                line,
                text: trimmed.to_string(),
                action,
            }),
            Err(e) => errors.push(format!("{file}:{line}: {e}: {trimmed}")),
        }
    }
    if let Some(c) = current {
        if !c.steps.is_empty() {
            cases.push(c);
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors.join("\n"))
    }
}

fn parse_step(line: &str) -> Result<Action, String> {
    let Some(directive_line) = line.strip_prefix('!') else {
        return command(line, Check::Exact);
    };
    let (name, rest) = directive_line
        .split_once(char::is_whitespace)
        .unwrap_or((directive_line, ""));
    match name {
        "sleep" => {
            let ms: u64 = rest
                .trim()
                .parse()
                .map_err(|_| "!sleep needs milliseconds")?;
            Ok(Action::Sleep(Duration::from_millis(ms)))
        }
        "reconnect" if rest.trim().is_empty() => Ok(Action::Reconnect),
        "raw" => {
            let bytes = unescape(rest)?;
            if bytes.is_empty() {
                return Err("!raw needs bytes".into());
            }
            Ok(Action::Raw(bytes))
        }
        "sorted" => command(rest, Check::Sorted),
        "type" => command(rest, Check::Type),
        "skip" => command(rest, Check::Skip),
        "approx" => {
            let (n, cmd) = rest.trim().split_once(' ').ok_or("!approx N CMD")?;
            let n = n.parse().map_err(|_| "!approx needs a tolerance")?;
            command(cmd, Check::Approx(n))
        }
        "mask" => {
            let (fields, cmd) = rest.trim().split_once(' ').ok_or("!mask F1,F2 CMD")?;
            let fields = fields.split(',').map(|f| f.as_bytes().to_vec()).collect();
            command(cmd, Check::Mask(fields))
        }
        "scanall" => {
            let args = split_args(rest)?;
            let name = args.first().ok_or("!scanall needs a command")?;
            let scan = name.eq_ignore_ascii_case(b"SCAN");
            let cursor_at = if scan { 1 } else { 2 };
            if args.get(cursor_at).map(Vec::as_slice) != Some(b"0") {
                return Err("!scanall: the cursor argument must be 0".into());
            }
            let pairs = name.eq_ignore_ascii_case(b"HSCAN") || name.eq_ignore_ascii_case(b"ZSCAN");
            Ok(Action::ScanAll {
                args,
                cursor_at,
                pairs,
            })
        }
        other => Err(format!("unknown directive !{other}")),
    }
}

fn command(text: &str, check: Check) -> Result<Action, String> {
    let args = split_args(text)?;
    if args.is_empty() {
        return Err("empty command".into());
    }
    Ok(Action::Command { args, check })
}

/// Splits a line the way redis-cli does (`sdssplitargs`): whitespace
/// separates arguments; `"…"` supports `\n \r \t \b \a \\ \" \xHH`; `'…'`
/// supports `\'`; a closing quote must be followed by whitespace or the end.
fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let Some(&c) = b.get(i) else {
                    return Err("unbalanced double quote".into());
                };
                let hex = match b.get(i + 1) {
                    Some(b'x') if c == b'\\' => b.get(i + 2..).and_then(hex2),
                    _ => None,
                };
                if let Some(byte) = hex {
                    cur.push(byte);
                    i += 3;
                } else if c == b'\\' && i + 1 < b.len() {
                    i += 1;
                    cur.push(match b[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if b.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                let Some(&c) = b.get(i) else {
                    return Err("unbalanced single quote".into());
                };
                if c == b'\\' && b.get(i + 1) == Some(&b'\'') {
                    cur.push(b'\'');
                    i += 1;
                } else if c == b'\'' {
                    if b.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                match b.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

fn hex2(b: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(b.get(..2)?).ok()?;
    u8::from_str_radix(s, 16).ok()
}

/// Unescapes a `!raw` payload: `\r \n \t \0 \\ \xHH`; everything else,
/// spaces included, is literal.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let v = b.get(i + 2..).and_then(hex2).ok_or("bad \\x escape")?;
                out.push(v);
                i += 2;
            }
            _ => return Err(format!("bad escape at byte {i}")),
        }
        i += 2;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Running

/// What one server did in response to one step.
#[derive(Clone, Debug)]
enum Outcome {
    Reply(Value),
    /// Bytes received after a `!raw` send, and whether the server closed.
    Raw(Vec<u8>, bool),
    Failed(String),
}

struct Target {
    name: String,
    server: Server,
    control: Option<Conn>,
    conn: Option<Conn>,
    /// Set once the server process has exited; the target is then ignored.
    dead: bool,
}

impl Target {
    fn new(name: String, server: Server) -> Target {
        Target {
            name,
            server,
            control: None,
            conn: None,
            dead: false,
        }
    }

    /// FLUSHALL through a long-lived control connection, then a fresh
    /// connection for the case.
    fn begin_case(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..2 {
            if self.control.is_none() {
                self.control = Conn::connect(self.server.port).ok();
            }
            let Some(c) = self.control.as_mut() else {
                last = "cannot connect".into();
                continue;
            };
            match c.call(&["FLUSHALL"]) {
                Ok(v) if v.encode() == b"+OK\r\n" => {
                    self.conn = None;
                    self.conn =
                        Some(Conn::connect(self.server.port).map_err(|e| format!("connect: {e}"))?);
                    return Ok(());
                }
                Ok(v) => {
                    last = format!("FLUSHALL replied {}", escape(&v.encode()));
                    self.control = None;
                }
                Err(e) => {
                    last = format!("FLUSHALL failed: {e}");
                    self.control = None;
                }
            }
        }
        Err(last)
    }

    fn send(&mut self, bytes: &[u8]) -> Option<Outcome> {
        let Some(c) = self.conn.as_mut() else {
            return Some(Outcome::Failed(ReadError::Closed.to_string()));
        };
        match c.send(bytes) {
            Ok(()) => None,
            Err(_) => {
                self.conn = None;
                Some(Outcome::Failed(ReadError::Closed.to_string()))
            }
        }
    }

    fn read(&mut self) -> Outcome {
        let Some(c) = self.conn.as_mut() else {
            return Outcome::Failed(ReadError::Closed.to_string());
        };
        match c.read() {
            Ok((v, _)) => Outcome::Reply(v),
            Err(e) => {
                self.conn = None;
                Outcome::Failed(e.to_string())
            }
        }
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Outcome {
        match self.send(&resp::command(args)) {
            Some(failed) => failed,
            None => self.read(),
        }
    }

    fn scan_all(&mut self, args: &[Vec<u8>], cursor_at: usize, pairs: bool) -> Outcome {
        let mut args = args.to_vec();
        let mut seen = Vec::new();
        for _ in 0..SCAN_MAX_CALLS {
            let reply = match self.call(&args) {
                Outcome::Reply(v) => v,
                other => return other,
            };
            if reply.is_error() {
                return Outcome::Reply(reply);
            }
            let (cursor, items) = match reply.items() {
                Some([cursor, Value::Agg(b'*', Some(items))]) => match cursor.bytes() {
                    Some(c) => (c.to_vec(), items),
                    None => return Outcome::Failed(format!("odd SCAN reply {}", show(&reply))),
                },
                _ => return Outcome::Failed(format!("odd SCAN reply {}", show(&reply))),
            };
            if pairs {
                for pair in items.chunks(2) {
                    seen.push(Value::Agg(b'*', Some(pair.to_vec())));
                }
            } else {
                seen.extend(items.iter().cloned());
            }
            if cursor == b"0" {
                seen.sort();
                seen.dedup();
                return Outcome::Reply(Value::Agg(b'*', Some(seen)));
            }
            args[cursor_at] = cursor;
        }
        Outcome::Failed(format!("SCAN did not finish in {SCAN_MAX_CALLS} calls"))
    }
}

fn show(v: &Value) -> String {
    escape(&v.encode())
}

/// Sorts every aggregate in `v`, recursively; maps and attributes by pairs.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Agg(k, Some(items)) => {
            let items: Vec<Value> = items.iter().map(sorted).collect();
            if matches!(k, b'%' | b'|') {
                let mut pairs: Vec<Vec<Value>> = items.chunks(2).map(<[Value]>::to_vec).collect();
                pairs.sort();
                Value::Agg(*k, Some(pairs.into_iter().flatten().collect()))
            } else {
                let mut items = items;
                items.sort();
                Value::Agg(*k, Some(items))
            }
        }
        other => other.clone(),
    }
}

/// Replaces the values of `fields` in a map (or flat key/value array) with
/// a marker of their type.
fn masked(v: &Value, fields: &[Vec<u8>]) -> Value {
    match v {
        Value::Agg(k, Some(items)) if items.len() % 2 == 0 => {
            let mut out = items.clone();
            for pair in out.chunks_mut(2) {
                let hit = pair[0]
                    .bytes()
                    .is_some_and(|name| fields.iter().any(|f| f.eq_ignore_ascii_case(name)));
                if hit {
                    pair[1] = Value::Line(b'?', pair[1].type_name().as_bytes().to_vec());
                }
            }
            Value::Agg(*k, Some(out))
        }
        other => other.clone(),
    }
}

fn approx_eq(a: &Value, b: &Value, tol: i64) -> bool {
    match (a, b) {
        (Value::Line(b':', _), Value::Line(b':', _)) => match (a.int(), b.int()) {
            (Some(x), Some(y)) => x.abs_diff(y) <= tol as u64,
            _ => a == b,
        },
        (Value::Agg(ka, Some(xa)), Value::Agg(kb, Some(xb))) => {
            ka == kb && xa.len() == xb.len() && xa.iter().zip(xb).all(|(x, y)| approx_eq(x, y, tol))
        }
        _ => a == b,
    }
}

/// The text an outcome is compared and shown as, under `check`.
fn view(check: &Check, o: &Outcome) -> String {
    match o {
        Outcome::Failed(e) => e.clone(),
        Outcome::Raw(bytes, closed) => {
            let mut s = format!("\"{}\"", escape(bytes));
            if *closed {
                s.push_str(" <then closed the connection>");
            }
            s
        }
        Outcome::Reply(v) => match check {
            Check::Exact | Check::Approx(_) => format!("\"{}\"", show(v)),
            Check::Sorted => format!("\"{}\" (sorted)", show(&sorted(v))),
            Check::Mask(f) => format!("\"{}\" (masked)", show(&masked(v, f))),
            Check::Type => format!("a reply of type {}", v.type_name()),
            Check::Skip => "a reply (not compared)".to_string(),
        },
    }
}

fn same(check: &Check, a: &Outcome, b: &Outcome) -> bool {
    match (check, a, b) {
        (Check::Approx(tol), Outcome::Reply(x), Outcome::Reply(y)) => approx_eq(x, y, *tol),
        _ => view(check, a) == view(check, b),
    }
}

struct Mismatch {
    target: usize,
    text: String,
}

fn truncate(s: &str) -> String {
    const MAX: usize = 1500;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

fn run_case(case: &Case, targets: &mut [Target], out: &mut Vec<Mismatch>) {
    let live: Vec<usize> = (0..targets.len()).filter(|&i| !targets[i].dead).collect();
    for &i in &live {
        if let Err(e) = targets[i].begin_case() {
            // A server that cannot FLUSHALL would fail every later case
            // slowly (read timeouts); stop using it.
            targets[i].dead = true;
            out.push(Mismatch {
                target: i,
                text: format!(
                    "{}:{} [{}] cannot start the case: {e}; no further cases run on it",
                    case.file, case.line, targets[i].name
                ),
            });
        }
    }
    let live: Vec<usize> = live.into_iter().filter(|&i| !targets[i].dead).collect();
    if live.first() != Some(&0) {
        return;
    }
    for step in &case.steps {
        let (check, outcomes): (Check, Vec<Outcome>) = match &step.action {
            Action::Sleep(d) => {
                std::thread::sleep(*d);
                continue;
            }
            Action::Reconnect => {
                for &i in &live {
                    targets[i].conn = Conn::connect(targets[i].server.port).ok();
                }
                continue;
            }
            Action::Command { args, check } => {
                let bytes = resp::command(args);
                let sent: Vec<Option<Outcome>> =
                    live.iter().map(|&i| targets[i].send(&bytes)).collect();
                let outcomes = live
                    .iter()
                    .zip(sent)
                    .map(|(&i, s)| s.unwrap_or_else(|| targets[i].read()))
                    .collect();
                (check.clone(), outcomes)
            }
            Action::ScanAll {
                args,
                cursor_at,
                pairs,
            } => {
                let outcomes = live
                    .iter()
                    .map(|&i| targets[i].scan_all(args, *cursor_at, *pairs))
                    .collect();
                (Check::Exact, outcomes)
            }
            Action::Raw(bytes) => {
                let sent: Vec<Option<Outcome>> =
                    live.iter().map(|&i| targets[i].send(bytes)).collect();
                std::thread::sleep(RAW_QUIET);
                // Redis's reply (the reference, read first) says how much
                // to expect: a server that has sent less, or has not closed
                // the connection where Redis did, is given up to
                // RAW_PATIENCE more, so a slow moment on a loaded machine
                // (between a reply and the close that follows it, too) is
                // not a difference.
                let (mut want, mut want_closed) = (0, false);
                let outcomes = live
                    .iter()
                    .zip(sent)
                    .map(|(&i, s)| {
                        s.unwrap_or_else(|| {
                            let t = &mut targets[i];
                            let conn = t.conn.as_mut().expect("sent on it");
                            let (mut got, mut closed) =
                                conn.read_until_quiet(Duration::from_millis(20));
                            let until = std::time::Instant::now() + RAW_PATIENCE;
                            while i != 0
                                && !closed
                                && (got.len() < want || want_closed)
                                && std::time::Instant::now() < until
                            {
                                let (more, c) = conn.read_until_quiet(Duration::from_millis(20));
                                got.extend_from_slice(&more);
                                closed = c;
                            }
                            if i == 0 {
                                (want, want_closed) = (got.len(), closed);
                            }
                            if closed {
                                t.conn = None;
                            }
                            Outcome::Raw(got, closed)
                        })
                    })
                    .collect();
                (Check::Exact, outcomes)
            }
        };
        let reference = &outcomes[0];
        if env_flag("KEVY_DIFF_DUMP") {
            println!(
                "{}:{}: {}\n    -> {}",
                case.file,
                step.line,
                step.text,
                truncate(&view(&check, reference))
            );
        }
        for (k, o) in outcomes.iter().enumerate().skip(1) {
            if !same(&check, reference, o) {
                let i = live[k];
                out.push(Mismatch {
                    target: i,
                    text: format!(
                        "{}:{} [{}] (case at line {})\n    command: {}\n    redis:   {}\n    kevy:    {}",
                        case.file,
                        step.line,
                        targets[i].name,
                        case.line,
                        step.text,
                        truncate(&view(&check, reference)),
                        truncate(&view(&check, o)),
                    ),
                });
            }
        }
    }
    for &i in &live {
        let t = &mut targets[i];
        if let Some(status) = t.server.exited() {
            t.dead = true;
            let log = t.server.output();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            out.push(Mismatch {
                target: i,
                text: format!(
                    "{}:{} [{}] the server EXITED ({status}) during this case; \
                     no further cases run on it. Last output:\n{}",
                    case.file,
                    case.line,
                    t.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ),
            });
        }
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn cores_list() -> Vec<usize> {
    match std::env::var("KEVY_DIFF_CORES") {
        Ok(s) => s
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .expect("KEVY_DIFF_CORES: comma-separated numbers")
            })
            .collect(),
        Err(_) => KEVY_CORES.to_vec(),
    }
}

#[test]
fn redis_and_kevy_reply_identically() {
    if common::skip_redis_tools() {
        eprintln!("differential: skipped ({}=1)", common::SKIP_ENV);
        return;
    }
    let filter = std::env::var("KEVY_DIFF_FILTER").ok();
    let cases = load_cases(filter.as_deref());
    assert!(
        !cases.is_empty(),
        "no cases found in {}",
        cases_dir().display()
    );

    let reference = Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}"));
    let mut targets = vec![Target::new("redis".into(), reference)];
    let against_redis = env_flag("KEVY_DIFF_AGAINST_REDIS");
    for cores in cores_list() {
        let (name, server) = if against_redis {
            let name = format!("redis standing in for kevy --cores {cores}");
            (name.clone(), Server::redis(&name))
        } else {
            let cores = cores.to_string();
            (
                format!("kevy --cores {cores}"),
                Server::try_kevy(&["--cores", &cores, "--save", ""]),
            )
        };
        let server = server.unwrap_or_else(|e| panic!("{name} did not start: {e}"));
        targets.push(Target::new(name, server));
    }

    let mut mismatches = Vec::new();
    for case in &cases {
        run_case(case, &mut targets, &mut mismatches);
    }

    let steps: usize = cases.iter().map(|c| c.steps.len()).sum();
    let files: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    println!(
        "differential: {} cases ({steps} lines) from {} files against {}",
        cases.len(),
        files.len(),
        targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if mismatches.is_empty() {
        return;
    }
    let mut report = String::new();
    for (i, t) in targets.iter().enumerate().skip(1) {
        let mine: Vec<&Mismatch> = mismatches.iter().filter(|m| m.target == i).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(
            report,
            "\n===== {}: {} mismatches =====",
            t.name,
            mine.len()
        );
        for m in mine.iter().take(MAX_SHOWN) {
            let _ = writeln!(report, "{}", m.text);
        }
        if mine.len() > MAX_SHOWN {
            let _ = writeln!(report, "… and {} more", mine.len() - MAX_SHOWN);
        }
    }
    for m in mismatches.iter().filter(|m| m.target == 0) {
        let _ = writeln!(report, "{}", m.text);
    }
    panic!(
        "{} differences from redis-server:{report}\n(rerun one file with KEVY_DIFF_FILTER=<name>)",
        mismatches.len()
    );
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn split_args_follows_redis_cli_quoting() {
        let v = |s: &[&str]| s.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(split_args("SET k v").unwrap(), v(&["SET", "k", "v"]));
        assert_eq!(
            split_args("  SET   \"a b\"  ''").unwrap(),
            v(&["SET", "a b", ""])
        );
        assert_eq!(
            split_args(r#"SET "\x41\n\"" 'it\'s'"#).unwrap(),
            v(&["SET", "A\n\"", "it's"])
        );
        assert!(split_args(r#"a"b c"d"#).is_err());
        assert_eq!(split_args(r#"a"b c""#).unwrap(), v(&["ab c"]));
        assert_eq!(split_args(r#"SET "\xff""#).unwrap()[1], vec![0xff]);
        assert!(split_args("SET \"a").is_err());
        assert!(split_args("SET 'a").is_err());
    }

    #[test]
    fn unescape_handles_raw_bytes() {
        assert_eq!(unescape(r"PING\r\n").unwrap(), b"PING\r\n");
        assert_eq!(unescape(r"a b\x00\0\\").unwrap(), b"a b\x00\x00\\");
        assert!(unescape(r"\q").is_err());
    }

    #[test]
    fn every_case_file_parses() {
        let cases = load_cases(None);
        assert!(!cases.is_empty());
    }
}
