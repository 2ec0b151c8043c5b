//! Differential test of the Lua libraries (`cjson`, `cmsgpack`, `bit`,
//! `struct`): every case in `tests/lualib/*.txt` runs in a real
//! `redis-server` through EVAL and in an mlua Lua 5.1 state opened with
//! `lualib::open_all`, and the two results must be byte for byte equal.
//!
//! # Case files
//!
//! Each line that is not blank and does not start with `#` is a Lua
//! expression list. It is evaluated inside `pcall`, its results are
//! serialised by the same Lua code on both sides (type, exact bytes of
//! strings, `%.17g` of numbers, tables in `pairs` order), and the script
//! ends by restoring cjson's default settings so that cases stay
//! independent. Everything sits on the script's first line, so error
//! positions read `user_script:1:` on both sides. The helpers `hx(s)` (hex
//! of a string), `mp(...)` (hex of `cmsgpack.pack(...)`), `pc(f, ...)`
//! (serialised results of `pcall(f, ...)`) and `deep(n, leaf)` (n nested
//! one-element arrays) are in scope.
//!
//! A line starting with `!differs ` is a case where kevy deliberately
//! differs from Redis (listed in the README's "Differences from Redis"); the
//! test checks that it still differs, so a fix shows up as a failure that
//! asks for the line and the README entry to go.
//!
//! `KEVY_SKIP_DIFF=1` skips the test; otherwise a missing `redis-server`
//! fails it.

mod common;

use common::resp::{escape, Conn, Value};
use common::Server;
use kevy_server::scripting::lualib;
use std::path::Path;

/// The helpers and serialiser, identical on both sides, on one line.
const PRELUDE: &str = "\
local function ser(v) local t = type(v) \
if t == 'string' then return string.format('%q', v) \
elseif t == 'number' then return 'n:' .. string.format('%.17g', v) \
elseif t == 'table' then local p = {} for k, x in pairs(v) do p[#p+1] = ser(k) .. '=' .. ser(x) end return '{' .. table.concat(p, ',') .. '}' \
elseif v == cjson.null then return 'null' \
elseif t == 'boolean' or t == 'nil' then return tostring(v) \
else return t end end \
local function pk(...) return {n = select('#', ...), ...} end \
local function out(ok, r) if not ok then return 'ERR ' .. ser(r) end \
local p = {} for i = 1, r.n do p[i] = ser(r[i]) end return table.concat(p, ' ') end \
local function pc(...) return out(true, pk(pcall(...))) end \
local function hx(s) return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end)) end \
local function mp(...) return hx(cmsgpack.pack(...)) end \
local function deep(n, leaf) local t = leaf for i = 1, n do t = {t} end return t end";

const RESET: &str = "cjson.encode_sparse_array(false, 2, 10) cjson.encode_max_depth(1000) \
cjson.decode_max_depth(1000) cjson.encode_number_precision(14) cjson.encode_keep_buffer(true) \
cjson.encode_invalid_numbers(false) cjson.decode_invalid_numbers(true)";

fn script(expr: &str) -> String {
    format!(
        "{PRELUDE} local r = out(pcall(function() local v = pk({expr}) return v end)) {RESET} return r"
    )
}

struct Case {
    file: String,
    line: usize,
    expr: String,
    differs: bool,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lualib");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in text.lines().enumerate() {
            let line_text = line.trim();
            if line_text.is_empty() || line_text.starts_with('#') {
                continue;
            }
            let (differs, expr) = match line_text.strip_prefix("!differs ") {
                Some(expr) => (true, expr),
                None => (false, line_text),
            };
            out.push(Case {
                file: file.clone(),
                line: i + 1,
                expr: expr.to_string(),
                differs,
            });
        }
    }
    out
}

fn run_redis(conn: &mut Conn, script: &str) -> Vec<u8> {
    match conn.call(&["EVAL", script, "0"]) {
        Ok(Value::Bulk(b'$', Some(b))) => b,
        Ok(other) => format!("redis replied {}", escape(&other.encode())).into_bytes(),
        Err(e) => format!("redis failed: {e:?}").into_bytes(),
    }
}

fn run_mlua(lua: &mlua::Lua, script: &str) -> Vec<u8> {
    match lua
        .load(script)
        .set_name("@user_script")
        .eval::<mlua::Value>()
    {
        Ok(mlua::Value::String(s)) => s.as_bytes().to_vec(),
        Ok(other) => format!("mlua returned {other:?}").into_bytes(),
        Err(e) => format!("mlua failed: {e}").into_bytes(),
    }
}

#[test]
fn lualib_matches_redis() {
    if common::skip_redis_tools() {
        eprintln!("KEVY_SKIP_DIFF=1: skipping");
        return;
    }
    let redis = Server::redis("redis-server (lualib)").unwrap_or_else(|e| panic!("{e}"));
    let mut conn = Conn::connect(redis.port).expect("connect to redis-server");
    let lua = mlua::Lua::new();
    lualib::open_all(&lua).expect("open the libraries");

    let cases = cases();
    assert!(cases.len() > 500, "only {} cases found", cases.len());
    let mut failures = Vec::new();
    let trace = std::env::var_os("KEVY_LUALIB_TRACE").is_some();
    for case in &cases {
        if trace {
            eprintln!("{}:{}: {}", case.file, case.line, case.expr);
        }
        let script = script(&case.expr);
        let want = run_redis(&mut conn, &script);
        let got = run_mlua(&lua, &script);
        if want.starts_with(b"redis ") {
            failures.push(format!(
                "{}:{}: {}\n  harness error: {}",
                case.file,
                case.line,
                case.expr,
                escape(&want)
            ));
        } else if case.differs && want == got {
            failures.push(format!(
                "{}:{}: {}\n  now matches redis ({}): drop `!differs` and its README entry",
                case.file,
                case.line,
                case.expr,
                escape(&want)
            ));
        } else if !case.differs && want != got {
            failures.push(format!(
                "{}:{}: {}\n  redis: {}\n  kevy:  {}",
                case.file,
                case.line,
                case.expr,
                escape(&want),
                escape(&got)
            ));
        }
    }
    eprintln!("{} cases, {} mismatches", cases.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
