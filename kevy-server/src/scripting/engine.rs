//! One Lua state per reactor thread: Redis's sandbox and `redis.*` API,
//! the thread's compiled scripts and functions, and the run of one script
//! with `redis.call` executing commands on the shard it runs on.
//!
//! While a script runs, the shard's state is moved into the run (swapped
//! with a placeholder the engine keeps), so the Lua callbacks own what they
//! touch and no borrow crosses the interpreter. Everything a run needs is
//! kept between runs (argument buffer, reply buffer), so a cached script
//! costs no allocation on the Rust side beyond Lua's own.

use super::convert::lua_to_reply;
use super::flags;
use super::sha1::sha1_hex;
use crate::ctx::{ConnCtx, Ctx, Session};
use crate::server::Server;
use crate::shard::Shard;
use crate::table::{arity_ok, flag, Handler, RouteKind};
use kevy_resp::{Args, OwnedArgs, Reply};
use kevy_rt::{ClientCtx, Route};
use kevy_sys::lua::{Done, Stack};
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The chunk name Redis gives scripts: errors read `user_script:1: …`.
const CHUNK_NAME: &str = "@user_script";
/// Internal Lua code's source, skipped when locating an error.
const INTERNAL: &str = "=kevy";

/// What Redis Cluster answers for a key of another node; kevy answers it
/// for a key the run cannot reach.
pub const NON_LOCAL: &str = "ERR Script attempted to access a non local key in a cluster node";

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The thread's run, for `redis.call` (a C function: `hooks.rs`).
    static RUN: RefCell<Option<Rc<RefCell<Run>>>> = const { RefCell::new(None) };
}

/// A compiled script or function and its flags.
struct Compiled {
    func: Function,
    flags: u32,
}

/// The server's function libraries (FUNCTION LOAD), shared by every
/// thread: each library's code, and what loading it registered.
#[derive(Default)]
pub struct Libraries {
    pub libs: std::collections::BTreeMap<Vec<u8>, Library>,
    /// Function name -> its library's name.
    pub funcs: HashMap<Vec<u8>, Vec<u8>>,
}

/// One library: its code (shebang included) and its functions.
#[derive(Clone, Debug)]
pub struct Library {
    pub name: Vec<u8>,
    pub code: Arc<[u8]>,
    pub functions: Vec<FunctionInfo>,
}

#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: Vec<u8>,
    pub description: Option<Vec<u8>>,
    pub flags: u32,
}

/// A thread's Lua state and caches.
pub struct Engine {
    lua: Lua,
    /// The functions' environment.
    fn_env: Table,
    run_script: Function,
    run_function: Function,
    load_library: Function,
    functions: HashMap<Vec<u8>, Compiled, ahash::RandomState>,
    fn_generation: u64,
    scripts: HashMap<[u8; 40], Compiled, ahash::RandomState>,
    generation: u64,
    run: Rc<RefCell<Run>>,
    /// math.random's state: a round that finds a script's keys puts it
    /// back, so the run that follows draws the same numbers.
    rand: Rc<std::cell::Cell<u64>>,
    /// What this state last added to [`LUA_MEMORY`].
    lua_memory: u64,
}

/// Why a run stopped before its script finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// It reached a key it cannot reach on this shard ([`reachable`]);
    /// where, as `(source, line)`.
    NonLocal {
        key: Vec<u8>,
        at: Option<(String, i64)>,
    },
    /// SCRIPT KILL or FUNCTION KILL (or a shutdown) stopped it, there.
    Killed { at: Option<(String, i64)> },
    /// It reached a command over the whole keyspace (KEYS, FLUSHALL, …)
    /// that its run cannot serve ([`whole_keyspace`]), there.
    Whole { at: Option<(String, i64)> },
}

/// Lua instructions between two looks at the clock and at a kill request
/// (Redis's count hook runs every 100000).
const HOOK_EVERY: u32 = 100_000;

/// The error a killed script's client gets.
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The state of the run in progress, shared with the Lua callbacks.
pub struct Run {
    /// The shard's state while a script runs; a placeholder between runs.
    shard: Shard,
    server: Option<Arc<Server>>,
    client: ClientCtx,
    db: usize,
    /// `redis.setresp(3)` was called.
    resp3: bool,
    /// EVAL_RO, FCALL_RO, or a `no-writes` script.
    read_only: bool,
    /// The script ran a write command.
    wrote: bool,
    /// The server was out of memory when an EVAL script without a shebang
    /// started: its `denyoom` calls fail until it has written something
    /// (Redis's `scriptVerifyOOM`).
    oom: bool,
    /// The declared keys (reachable on a scratch shard).
    keys: OwnedArgs,
    /// FUNCTION LOAD runs a library's code: what it registered.
    registering: Option<Vec<(FunctionInfo, Function)>>,
    /// Keys written so far with their state before the script, when an
    /// undeclared key could still stop the run (several shards, or a
    /// transaction holding keys here), or in a round that finds keys.
    undo: Option<Vec<(Vec<u8>, kevy_store::Snapshot)>>,
    stop: Option<Stop>,
    /// Why `redis.call` is stopping the run, for the function that records
    /// the stop ([`halt`]).
    halting: Option<Halt>,
    /// The effects recorded before the script, to drop what it recorded
    /// when it stops.
    prop_mark: Option<(usize, usize)>,
    argv: OwnedArgs,
    /// The run's arguments after its keys (ARGV, a function's second
    /// table).
    script_argv: OwnedArgs,
    reply: Vec<u8>,
    active: bool,
    /// The run is a function's (FCALL).
    function: bool,
    /// When the hook first ran during this run (the clock is read there,
    /// not per call: the threshold counts from about the first 100000
    /// instructions on).
    started: Option<std::time::Instant>,
    /// The run passed `busy-reply-threshold`: `running` is registered.
    busy: bool,
    running: Arc<super::Running>,
    /// A function's name and FCALL command, kept for FUNCTION STATS (the
    /// buffers are reused from run to run).
    fn_name: Vec<u8>,
    fn_command: OwnedArgs,
    /// The `redis.call`s this run made, for INFO commandstats once it is
    /// known to count: a run that is undone (a round that finds keys, an
    /// attempt that runs again over the whole keyspace) counts nothing.
    calls: Vec<crate::stats::Recorded>,
}

/// Bytes every thread's Lua state holds (INFO's `used_memory_lua`),
/// kept by each engine adding what its state grew or shrank by.
pub static LUA_MEMORY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Engine {
    /// Adds this state's change in size since it last did to
    /// [`LUA_MEMORY`].
    fn publish_memory(&mut self) {
        let now = self.lua.used_memory() as u64;
        if now != self.lua_memory {
            LUA_MEMORY.fetch_add(now.wrapping_sub(self.lua_memory), Ordering::Relaxed);
            self.lua_memory = now;
        }
    }

    fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        super::lualib::open_all(&lua)?;
        let run = Rc::new(RefCell::new(Run {
            shard: Shard::new(0, 1),
            server: None,
            client: placeholder_client(),
            db: 0,
            resp3: false,
            read_only: false,
            wrote: false,
            oom: false,
            keys: OwnedArgs::default(),
            registering: None,
            undo: None,
            stop: None,
            halting: None,
            prop_mark: None,
            argv: OwnedArgs::default(),
            script_argv: OwnedArgs::default(),
            reply: Vec::with_capacity(256),
            active: false,
            function: false,
            started: None,
            busy: false,
            running: Arc::default(),
            fn_name: Vec::new(),
            fn_command: OwnedArgs::default(),
            calls: Vec::new(),
        }));
        let rust = lua.create_table()?;
        RUN.with(|slot| *slot.borrow_mut() = Some(run.clone()));
        let r = run.clone();
        let halt = lua.create_function(move |lua, ()| -> mlua::Result<()> {
            let mut run = r.borrow_mut();
            halt(lua, &mut run)
        })?;
        let (call, pcall) = super::hooks::functions(&lua, halt)?;
        rust.raw_set("call", call)?;
        rust.raw_set("pcall", pcall)?;
        rust.raw_set("args", super::hooks::args_function(&lua)?)?;
        rust.raw_set("sha1hex", lua.create_function(api_sha1hex)?)?;
        rust.raw_set("log", lua.create_function(api_log)?)?;
        let r = run.clone();
        rust.raw_set(
            "setresp",
            lua.create_function(move |lua, args: MultiValue| {
                let n = api_setresp(lua, args)?;
                r.borrow_mut().resp3 = n == 3;
                Ok(())
            })?,
        )?;
        rust.raw_set("set_repl", lua.create_function(api_set_repl)?)?;
        let r = run.clone();
        rust.raw_set(
            "acl_check_cmd",
            lua.create_function(move |lua, args: MultiValue| {
                let server = r.borrow().server.clone();
                api_acl_check(lua, server.as_deref(), args)
            })?,
        )?;
        let state = Rc::new(std::cell::Cell::new(RAND48_INIT));
        let rand = state.clone();
        let st = state.clone();
        rust.raw_set(
            "random",
            lua.create_function(move |lua, args: MultiValue| api_random(lua, &st, args))?,
        )?;
        rust.raw_set(
            "randomseed",
            lua.create_function(move |lua, args: MultiValue| {
                let seed = check_int(lua, &args, 1)?;
                state.set(rand48_seed(seed as i32));
                Ok(())
            })?,
        )?;
        let original: Function = lua.globals().raw_get("loadstring")?;
        let orig = original.clone();
        rust.raw_set(
            "loadstring",
            lua.create_function(move |lua, args: MultiValue| api_loadstring(lua, &orig, args))?,
        )?;
        rust.raw_set(
            "load",
            lua.create_function(move |lua, args: MultiValue| api_load(lua, &original, args))?,
        )?;
        rust.raw_set(
            "unwrap",
            lua.create_function(|lua, (e, as_table): (Value, bool)| unwrap(lua, e, as_table))?,
        )?;
        let r = run.clone();
        rust.raw_set(
            "register",
            lua.create_function(move |lua, args: MultiValue| {
                let mut run = r.borrow_mut();
                register(lua, &mut run, args)
            })?,
        )?;
        rust.raw_set(
            "where",
            lua.create_function(|lua, ()| {
                Ok(match location(lua, 1) {
                    Some((s, l)) => (
                        Value::String(lua.create_string(&s)?),
                        Value::Number(l as f64),
                    ),
                    None => (Value::Nil, Value::Nil),
                })
            })?,
        )?;
        let real = lua.globals();
        let prelude = lua
            .load(include_str!("prelude.lua"))
            .set_name(INTERNAL)
            .into_function()?;
        type Made = (Table, Table, Function, Function, Function);
        let (globals, fn_env, run_script, run_function, load_library): Made = prelude.call((
            real.clone(),
            rust,
            crate::families::common::REDIS_VERSION,
            version_num(),
        ))?;
        lua.set_globals(globals)?;
        set_busy_hook(&lua, &run)?;
        Ok(Engine {
            lua_memory: 0,
            lua,
            fn_env,
            run_script,
            run_function,
            load_library,
            functions: HashMap::default(),
            fn_generation: u64::MAX,
            scripts: HashMap::default(),
            generation: u64::MAX,
            run,
            rand,
        })
    }

    /// Compiles a script's body (after its shebang): the function, or
    /// Redis's compile error.
    fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        // A leading ESC would select Lua's bytecode loader; Redis's Lua
        // reads every script as text, so its lexer reports the byte.
        let padded;
        let src = if body.first() == Some(&27) {
            padded = [b" ", body].concat();
            &padded[..]
        } else {
            body
        };
        self.lua
            .load(src)
            .set_name(name)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }
}

fn placeholder_client() -> ClientCtx {
    ClientCtx::internal(0, 0, 0)
}

/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
fn version_num() -> i64 {
    let mut parts = crate::families::common::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// Runs `f` with this thread's engine, creating it on first use.
fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> Result<R, String> {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Engine::new().map_err(|e| format!("ERR Lua engine: {e}"))?);
        }
        Ok(f(slot.as_mut().expect("just created")))
    })
}

// ---- where an error happened ---------------------------------------------

/// The place an error was raised, as Redis's error handler reports it: the
/// first frame from `level` on that is not internal, past at most one C
/// function (the one that raised it). `(source, line)`.
fn location(lua: &Lua, level: usize) -> Option<(String, i64)> {
    let mut skipped_c = false;
    for l in level..level + 16 {
        let frame = lua.inspect_stack(l, |d| {
            let s = d.source();
            (
                s.source.map(|c| c.into_owned()),
                s.what,
                d.current_line().map_or(-1, |n| n as i64),
            )
        })?;
        let (source, what, line) = frame;
        // The embedded libraries' Lua wrappers are no place of the script's.
        let wrapper = source.as_deref() == Some(super::lualib::WRAPPER_CHUNK);
        if source.as_deref() == Some(INTERNAL) || what == "tail" || wrapper {
            continue;
        }
        if what == "C" && !skipped_c {
            skipped_c = true;
            continue;
        }
        return Some((source.unwrap_or_default(), line));
    }
    None
}

// ---- the shebang -----------------------------------------------------------

/// Redis's `evalExtractShebangFlags`: the flags and how many bytes the
/// shebang line takes (its newline stays, so line numbers do not move).
pub fn shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if *engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut f = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(',') {
            match flags::NAMES.iter().find(|(_, n)| *n == name) {
                Some((bit, _)) => f |= bit,
                None => return Err(format!("ERR Unexpected flag in script shebang: {name}")),
            }
        }
    }
    Ok((f, end))
}

// ---- running a script -------------------------------------------------------

/// What a script is: its body (EVAL) or its SHA-1 (EVALSHA).
pub enum Source<'a> {
    Body(&'a [u8]),
    Sha(&'a [u8]),
}

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO on the shard of `ctx`: the
/// arguments are `[cmd, script, numkeys, keys…, args…]`, numkeys already
/// checked by the route.
pub fn eval(ctx: &mut Ctx<'_>, src: Source<'_>, ro: bool) {
    let Some(server) = ctx.shard.server.clone() else {
        return ctx.out.error("ERR scripting is not available here");
    };
    let outcome = with_engine(|e| eval_with(e, ctx, &server, src, ro));
    if let Err(msg) = outcome {
        ctx.out.error(&msg);
    }
}

fn eval_with(e: &mut Engine, ctx: &mut Ctx<'_>, server: &Arc<Server>, src: Source<'_>, ro: bool) {
    let gen = server.scripts.generation();
    if gen != e.generation {
        e.scripts.clear();
        e.generation = gen;
    }
    let key = match src {
        Source::Body(body) => sha1_hex(body),
        Source::Sha(sha) => match super::sha_key(sha) {
            Some(sha) => sha,
            None => return ctx.out.error(NOSCRIPT),
        },
    };
    // One hash lookup on the hot path (a cached script).
    let (func, f) = match e.scripts.get(&key) {
        Some(c) => (c.func.clone(), c.flags),
        None => match compile_missing(e, server, key, src) {
            Ok(c) => c,
            Err(msg) => return ctx.out.error(&msg),
        },
    };
    let name = std::str::from_utf8(&key).unwrap_or_default();
    run(e, ctx, server, &func, f, ro, name, false);
}

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// A script this thread has not compiled: compiles it (EVAL's body, or
/// the server's source of an EVALSHA), adds it to the caches, and returns
/// its function and flags; the error reply otherwise.
fn compile_missing(
    e: &mut Engine,
    server: &Server,
    sha: [u8; 40],
    src: Source<'_>,
) -> Result<(Function, u32), String> {
    let c = match src {
        Source::Body(body) => {
            let c = compile_script(e, body)?;
            server.scripts.add(sha, body);
            c
        }
        Source::Sha(_) => {
            let body = server.scripts.body(&sha).ok_or(NOSCRIPT)?;
            compile_script(e, &body)?
        }
    };
    let made = (c.func.clone(), c.flags);
    e.scripts.insert(sha, c);
    Ok(made)
}

/// Compiles an EVAL script: its shebang flags and its function, or the
/// reply's error.
fn compile_script(e: &Engine, body: &[u8]) -> Result<Compiled, String> {
    let (f, skip) = shebang(body)?;
    let func = e
        .compile(&body[skip..], CHUNK_NAME)
        .map_err(|m| format!("ERR Error compiling script (new function): {m}"))?;
    Ok(Compiled { func, flags: f })
}

/// SCRIPT LOAD: compiles `body` on this thread (a syntax error is the
/// reply) and adds it to the server's scripts; its SHA-1.
pub fn script_load(server: &Server, body: &[u8]) -> Result<[u8; 40], String> {
    with_engine(|e| {
        let gen = server.scripts.generation();
        if gen != e.generation {
            e.scripts.clear();
            e.generation = gen;
        }
        let sha = sha1_hex(body);
        if !e.scripts.contains_key(&sha) {
            let c = compile_script(e, body)?;
            e.scripts.insert(sha, c);
        }
        server.scripts.add(sha, body);
        Ok(sha)
    })?
}

/// Runs a compiled script or function on the shard of `ctx` and writes its
/// reply. A function (FCALL) gets the keys and arguments as its two
/// arguments; an EVAL script sees them as KEYS and ARGV.
#[allow(clippy::too_many_arguments)]
fn run(
    e: &mut Engine,
    ctx: &mut Ctx<'_>,
    server: &Arc<Server>,
    func: &Function,
    script_flags: u32,
    ro: bool,
    name: &str,
    function: bool,
) {
    // Run over the whole keyspace: a round that finds its keys, or the
    // final run (whose answer may already be known).
    let mut discovering = false;
    if let Some(esc) = ctx.shard.escalation.as_mut() {
        if let Some(v) = &esc.verdict {
            return ctx.out.error(v);
        }
        discovering = esc.discovering;
        // Every run draws the same random numbers, so each reaches the
        // keys the last one did.
        match esc.rng {
            Some(state) => kevy_store::rng::set_state(state),
            None => esc.rng = Some(kevy_store::rng::state()),
        }
        esc.pick_at = 0;
    }
    let compat = script_flags & flags::EVAL_COMPAT != 0;
    if !compat && script_flags & flags::NO_WRITES == 0 && ro {
        return ctx
            .out
            .error("ERR Can not execute a script with write flag using *_ro command.");
    }
    // Redis's `pre_command_oom_state`: a script with a shebang is refused
    // at once unless it may not write or is `allow-oom`.
    let oom = crate::evict::maxmemory() != 0 && crate::evict::admit(ctx.shard).is_err();
    if oom && !compat && script_flags & (flags::ALLOW_OOM | flags::NO_WRITES) == 0 {
        return ctx.out.error(crate::evict::OOM);
    }
    let args = ctx.args;
    let numkeys = kevy_store::num::parse_i64(args.get(2)).unwrap_or(0).max(0) as usize;
    let keys = (3..3 + numkeys).map(|i| args.get(i));
    let argv = (3 + numkeys..args.len()).map(|i| args.get(i));

    // Move the shard into the run.
    {
        let mut r = e.run.borrow_mut();
        std::mem::swap(&mut r.shard, ctx.shard);
        if !r.server.as_ref().is_some_and(|s| Arc::ptr_eq(s, server)) {
            r.server = Some(server.clone());
        }
        r.client = *ctx.client;
        r.db = ctx.db;
        r.resp3 = false;
        r.read_only = ro || (!compat && script_flags & flags::NO_WRITES != 0);
        r.wrote = false;
        r.oom = oom && compat;
        r.keys.clear();
        for k in keys {
            r.keys.push(k);
        }
        // The prelude's runner makes KEYS and ARGV from these
        // (`hooks::args_function`).
        r.script_argv.clear();
        for a in argv {
            r.script_argv.push(a);
        }
        // An undeclared key may stop the run: several shards, or a
        // transaction holding or waiting for keys here.
        let several = (r.shard.nshards > 1 || r.shard.locked) && !r.shard.scratch;
        r.undo = several.then(Vec::new);
        if discovering {
            // A round that finds keys is taken back whole, whatever it
            // wrote (FLUSHALL and SWAPDB included).
            r.shard
                .store
                .observe(kevy_store::journal::Journal::default());
        }
        r.stop = None;
        r.function = function;
        if function {
            r.fn_name.clear();
            r.fn_name.extend_from_slice(name.as_bytes());
            r.fn_command.clear();
            for a in args.iter() {
                r.fn_command.push(a);
            }
        }
        r.started = None;
        r.prop_mark = r.shard.prop_attached.then(|| {
            let mark = r.shard.prop().mark();
            mark
        });
        // What an earlier script read is handed on after it, or dropped
        // here: the list never outgrows one script's reads.
        r.shard.script_reads.clear();
        r.active = true;
    }
    let rand = e.rand.get();
    let entry = if function {
        &e.run_function
    } else {
        &e.run_script
    };
    let result: mlua::Result<(bool, Value)> = entry.call(func);
    if discovering {
        e.rand.set(rand);
    }
    e.publish_memory();
    let (stop, resp3) = {
        let mut r = e.run.borrow_mut();
        r.active = false;
        r.halting = None;
        if r.busy {
            r.busy = false;
            if let Some(s) = r.server.clone() {
                s.scripts.not_busy(&r.running);
            }
        }
        let stop = r.stop.take();
        if discovering {
            moved_names(&mut r.shard);
        }
        if stop.is_some() || discovering {
            undo(&mut r);
        }
        r.undo = None;
        let counts =
            !discovering && !matches!(stop, Some(Stop::NonLocal { .. } | Stop::Whole { .. }));
        let calls = std::mem::take(&mut r.calls);
        if counts {
            let r = &mut *r;
            if let Some(server) = r.server.as_deref() {
                let id = r.shard.id;
                for c in &calls {
                    server.cmdstats.note(&mut r.shard.attempt_stats, id, c);
                }
            }
        }
        r.calls = calls;
        r.calls.clear();
        std::mem::swap(&mut r.shard, ctx.shard);
        (stop, r.resp3)
    };
    // A command that panicked under `redis.call` panics here, its shard
    // back in place.
    if let Some(payload) = kevy_sys::lua::take_panic() {
        std::panic::resume_unwind(payload);
    }
    if stop.is_some() {
        // A stopped run's hook raised on every instruction until the
        // script unwound.
        if let Err(err) = set_busy_hook(&e.lua, &e.run) {
            crate::log!(Notice, "Lua hook: {err}");
        }
    }
    if discovering {
        // A round's run is undone and answers nothing; killed, the script
        // is not run again.
        if let Some(Stop::Killed { at }) = stop {
            if let Some(esc) = ctx.shard.escalation.as_mut() {
                esc.verdict = Some(killed_error(name, at));
            }
        }
        return;
    }
    // Another shard's key, one a transaction may hold, or the whole
    // keyspace: a run over the whole keyspace can reach it.
    let escalable = match &stop {
        Some(Stop::NonLocal { key, .. }) => !key.is_empty(),
        Some(Stop::Whole { .. }) => true,
        _ => false,
    };
    match stop {
        Some(Stop::Killed { at }) => {
            ctx.out.error(&killed_error(name, at));
        }
        // Run again over the whole keyspace, where the runtime can.
        Some(_) if escalable && ctx.shard.may_escalate => {
            ctx.shard.escalate = true;
        }
        // The final run over the whole keyspace reached a key no round
        // did (derived from the clock, say).
        Some(_) if escalable && ctx.shard.escalation.is_some() => {
            ctx.out.error(super::TOO_MANY_ROUNDS);
        }
        Some(Stop::NonLocal { at, .. } | Stop::Whole { at }) => {
            let mut msg = NON_LOCAL.to_string();
            if let Some((source, line)) = at {
                msg.push_str(&format!(" script: {name}, on {source}:{line}."));
            }
            ctx.out.error(&msg);
        }
        None => match result {
            Ok((true, v)) => lua_to_reply(&v, &mut ctx.out, resp3),
            Ok((false, err)) => error_reply(&err, name, &mut ctx.out),
            Err(err) => ctx
                .out
                .error(&format!("ERR Error running script {name}, {err}")),
        },
    }
}

/// After a round that finds keys: a key the round wrote that is only a
/// name's stand-in and still exists somewhere (SWAPDB moved it) needs its
/// copy, or the final run would write the stand-in back. Deleted ones
/// (FLUSHDB, FLUSHALL) need none.
fn moved_names(shard: &mut Shard) {
    let written = shard.store.take_dirty();
    let Some(e) = shard.escalation.as_mut() else {
        return;
    };
    if !e.has_names || written.is_empty() {
        return;
    }
    // After FLUSHALL every database is empty: nothing to look up.
    let live: Vec<usize> = (0..shard.store.ndbs())
        .filter(|&i| shard.store.db_counts(i).0 != 0)
        .collect();
    for k in written {
        if e.copied.contains(&k) || e.missing.contains(&k) {
            continue;
        }
        if live.iter().any(|&i| shard.store.db(i).contains(&k)) {
            e.missing.insert(k);
        }
    }
}

/// The error a killed script's client gets, with where it stopped.
fn killed_error(name: &str, at: Option<(String, i64)>) -> String {
    let mut msg = KILLED.to_string();
    if let Some((source, line)) = at {
        msg.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    msg
}

/// A script's error as Redis replies it: the error table's `err`, then
/// where it was raised.
fn error_reply(err: &Value, name: &str, out: &mut Reply<'_>) {
    let Value::Table(t) = err else {
        let text = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".into(),
        };
        return out.error(&format!("ERR Error running script {name}, {text}"));
    };
    let text = |k: &str| -> Option<Vec<u8>> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Integer(i) => Some(i.to_string().into_bytes()),
            Value::Number(n) => Some(lua_number(n).into_bytes()),
            _ => None,
        }
    };
    let mut msg = text("err").unwrap_or_else(|| b"ERR unknown error".to_vec());
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        msg.extend_from_slice(b" script: ");
        msg.extend_from_slice(name.as_bytes());
        msg.extend_from_slice(b", on ");
        msg.extend_from_slice(&source);
        msg.push(b':');
        msg.extend_from_slice(&line);
        msg.push(b'.');
    }
    out.error_bytes(&msg);
}

/// Lua 5.1's `tostring` of a number (`%.14g`).
fn lua_number(n: f64) -> String {
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{:.13e}", n);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..14).contains(&exp) {
        let decimals = (13 - exp).max(0) as usize;
        let f = format!("{:.*}", decimals, n);
        let f = if f.contains('.') {
            f.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            f
        };
        return f;
    }
    let mant = if mant.contains('.') {
        mant.trim_end_matches('0').trim_end_matches('.')
    } else {
        mant
    };
    format!(
        "{}e{}{:02}",
        mant,
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Puts back what a stopped run wrote, and drops the effects and the
/// keyspace events it made.
fn undo(r: &mut Run) {
    crate::notify::discard(&mut r.shard);
    r.shard.script_pubs.clear();
    if r.shard.scratch {
        // A round that finds a script's keys puts the copies back as they
        // were (its journal).
        if let Some(j) = r.shard.store.unobserve::<kevy_store::journal::Journal>() {
            crate::notify::quiet(&mut r.shard, |s| s.store.roll_back(j));
        }
        // Nothing is written back from a scratch shard whose record is
        // empty.
        r.shard.store.track_dirty(false);
        r.shard.store.track_dirty(true);
        truncate_prop(r);
        return;
    }
    if let Some(saved) = r.undo.take() {
        for (key, snap) in saved.into_iter().rev() {
            r.shard.store.import(&key, snap);
        }
    }
    truncate_prop(r);
}

/// Drops the effects a stopped run recorded.
fn truncate_prop(r: &mut Run) {
    if let Some(mark) = r.prop_mark {
        if r.shard.prop_attached {
            r.shard.prop().truncate(mark);
        }
    }
}

// ---- redis.call -------------------------------------------------------------

/// An error a Rust function of the `redis` library raises. Lua sees it as
/// userdata; `unwrap` (used by pcall, xpcall, coroutine.resume and the
/// error handler) turns it into what Redis raises.
#[derive(Debug)]
enum Raised {
    /// An error table: its `err` text.
    Table(Vec<u8>),
    /// A string error (a standard library function's).
    Message(Vec<u8>),
    /// The run was stopped ([`Stop`]).
    Stop,
}

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raised::Table(t) | Raised::Message(t) => f.write_str(&String::from_utf8_lossy(t)),
            Raised::Stop => f.write_str(NON_LOCAL),
        }
    }
}

impl std::error::Error for Raised {}

fn raise<T>(r: Raised) -> mlua::Result<T> {
    Err(mlua::Error::external(r))
}

/// Raises Redis's error table for a message of its own (`luaPushError`:
/// code ERR).
fn raise_plain<T>(msg: &str) -> mlua::Result<T> {
    raise(Raised::Table(super::convert::error_text(
        format!("ERR {msg}").as_bytes(),
    )))
}

fn find_raised(err: &mlua::Error) -> Option<&Raised> {
    match err {
        mlua::Error::ExternalError(e) => e.downcast_ref::<Raised>(),
        mlua::Error::CallbackError { cause, .. } => find_raised(cause),
        mlua::Error::WithContext { cause, .. } => find_raised(cause),
        _ => None,
    }
}

/// What Redis raises in place of an error a Rust function raised: an error
/// table (`as_table`) or its message; any other value as it is.
fn unwrap(lua: &Lua, e: Value, as_table: bool) -> mlua::Result<Value> {
    let Value::Error(err) = &e else {
        return Ok(e);
    };
    let Some(r) = find_raised(err) else {
        return Ok(e);
    };
    let (text, table): (&[u8], bool) = match r {
        Raised::Table(t) => (t, as_table),
        Raised::Message(m) => (m, false),
        Raised::Stop => (NON_LOCAL.as_bytes(), as_table),
    };
    let s = lua.create_string(text)?;
    if !table {
        return Ok(Value::String(s));
    }
    let t = lua.create_table()?;
    t.raw_set("err", s)?;
    Ok(Value::Table(t))
}

/// Raises a standard library's argument error (`luaL_argerror`): the
/// caller's position, the function's name as called.
fn raise_arg<T>(lua: &Lua, n: usize, msg: &str) -> mlua::Result<T> {
    let name = lua
        .inspect_stack(0, |d| d.names().name.map(|n| n.into_owned()))
        .flatten()
        .unwrap_or_else(|| "?".into());
    let text = format!("{}bad argument #{n} to '{name}' ({msg})", position(lua));
    raise(Raised::Message(text.into_bytes()))
}

/// `luaL_where(L, 1)`: `short_src:line: ` of the caller, when it is Lua.
fn position(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let line = d.current_line().unwrap_or(0);
        let src = d
            .source()
            .short_src
            .map(|s| s.into_owned())
            .unwrap_or_default();
        (line > 0).then(|| format!("{src}:{line}: "))
    })
    .flatten()
    .unwrap_or_default()
}

/// `luaL_checkint`: argument `n` (1-based) as a C int, numeric strings
/// included.
fn check_int(lua: &Lua, args: &MultiValue, n: usize) -> mlua::Result<i64> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    let got = if n > args.len() {
        "no value"
    } else {
        lua_type(&v)
    };
    match lua.coerce_number(v)? {
        Some(x) => Ok(x.trunc() as i64 as i32 as i64),
        None => raise_arg(lua, n, &format!("number expected, got {got}")),
    }
}

// ---- math.random ---------------------------------------------------------------

/// rand48's state at start-up (`x = 0x1234ABCD330E`), as Redis's
/// `redisLrand48` keeps it: one generator for every script of the process.
const RAND48_INIT: u64 = 0x1234_ABCD_330E;

fn rand48_seed(seed: i32) -> u64 {
    ((seed as u32 as u64) << 16) | 0x330E
}

fn lrand48(state: &std::cell::Cell<u64>) -> i64 {
    let x = state.get().wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & 0xFFFF_FFFF_FFFF;
    state.set(x);
    (x >> 17) as i64
}

/// math.random as Redis replaces it.
fn api_random(lua: &Lua, state: &std::cell::Cell<u64>, args: MultiValue) -> mlua::Result<f64> {
    const MAX: i64 = i32::MAX as i64;
    let r = (lrand48(state) % MAX) as f64 / MAX as f64;
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = check_int(lua, &args, 1)?;
            if u < 1 {
                return raise_arg(lua, 1, "interval is empty");
            }
            Ok((r * u as f64).floor() + 1.0)
        }
        2 => {
            let l = check_int(lua, &args, 1)?;
            let u = check_int(lua, &args, 2)?;
            if l > u {
                return raise_arg(lua, 2, "interval is empty");
            }
            Ok((r * (u - l + 1) as f64).floor() + l as f64)
        }
        _ => raise(Raised::Message(
            format!("{}wrong number of arguments", position(lua)).into_bytes(),
        )),
    }
}

// ---- loading code ----------------------------------------------------------------

/// Lua 5.1's name of a value's type.
fn lua_type(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::Error(_) => "userdata",
        other => other.type_name(),
    }
}

/// An optional string argument (`luaL_optstring`): strings and numbers.
fn opt_string(lua: &Lua, args: &MultiValue, n: usize) -> mlua::Result<Option<Vec<u8>>> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()))
        }
        Some(v) => raise_arg(lua, n, &format!("string expected, got {}", lua_type(v))),
    }
}

/// Loads `code` as text whatever its first byte (a leading ESC would pick
/// Lua's bytecode loader; Redis's Lua reads it as text and rejects it).
fn load_text(
    original: &Function,
    mut code: Vec<u8>,
    name: Vec<u8>,
    lua: &Lua,
) -> mlua::Result<MultiValue> {
    if code.first() == Some(&27) {
        code.insert(0, b' ');
    }
    original.call((lua.create_string(code)?, lua.create_string(name)?))
}

/// loadstring(s [, chunkname]).
fn api_loadstring(lua: &Lua, original: &Function, args: MultiValue) -> mlua::Result<MultiValue> {
    let Some(code) = opt_string(lua, &args, 1)? else {
        let got = args.front().map_or("no value", lua_type);
        return raise_arg(lua, 1, &format!("string expected, got {got}"));
    };
    let name = opt_string(lua, &args, 2)?.unwrap_or_else(|| code.clone());
    load_text(original, code, name, lua)
}

/// load(reader [, chunkname]): the pieces are read first, then loaded as
/// loadstring would.
fn api_load(lua: &Lua, original: &Function, args: MultiValue) -> mlua::Result<MultiValue> {
    let Some(Value::Function(reader)) = args.front() else {
        let got = args.front().map_or("no value", lua_type);
        return raise_arg(lua, 1, &format!("function expected, got {got}"));
    };
    let name = opt_string(lua, &args, 2)?.unwrap_or_else(|| b"=(load)".to_vec());
    let failed = |msg: String| -> mlua::Result<MultiValue> {
        Ok(MultiValue::from_iter([
            Value::Nil,
            Value::String(lua.create_string(msg)?),
        ]))
    };
    let mut code = Vec::new();
    loop {
        match reader.call::<Value>(()) {
            Ok(Value::Nil) => break,
            Ok(Value::String(s)) if s.as_bytes().is_empty() => break,
            Ok(Value::String(s)) => code.extend_from_slice(&s.as_bytes()),
            Ok(v @ (Value::Integer(_) | Value::Number(_))) => {
                if let Some(s) = lua.coerce_string(v)? {
                    code.extend_from_slice(&s.as_bytes());
                }
            }
            Ok(_) => return failed("reader function must return a string".into()),
            Err(e) => return failed(e.to_string()),
        }
    }
    load_text(original, code, name, lua)
}

// ---- the redis library -------------------------------------------------------

fn api_sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    if args.len() != 1 {
        return raise_plain("wrong number of arguments");
    }
    let s = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        v @ (Value::Integer(_) | Value::Number(_)) => lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    lua.create_string(sha1_hex(&s))
}

fn api_log(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return raise_plain("redis.log() requires two arguments or more.");
    }
    let Some(level) = lua.coerce_number(args[0].clone())? else {
        return raise_plain("First argument must be a number (log level).");
    };
    let level = level as i32;
    if !(0..=3).contains(&level) {
        return raise_plain("Invalid debug level.");
    }
    let level = match level {
        0 => crate::log::Level::Debug,
        1 => crate::log::Level::Verbose,
        2 => crate::log::Level::Notice,
        _ => crate::log::Level::Warning,
    };
    if !crate::log::enabled(level) {
        return Ok(());
    }
    let mut line = Vec::new();
    for (i, v) in args.iter().enumerate().skip(1) {
        let s = match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(_) | Value::Number(_) => lua
                .coerce_string(v.clone())?
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default(),
            _ => continue,
        };
        if i != 1 {
            line.push(b' ');
        }
        line.extend_from_slice(&s);
    }
    crate::log::log(level, format_args!("{}", String::from_utf8_lossy(&line)));
    Ok(())
}

fn api_setresp(lua: &Lua, args: MultiValue) -> mlua::Result<i64> {
    if args.len() != 1 {
        return raise_plain("redis.setresp() requires one argument.");
    }
    let n = lua.coerce_number(args[0].clone())?.unwrap_or(0.0) as i32;
    if n != 2 && n != 3 {
        return raise_plain("RESP version must be 2 or 3.");
    }
    Ok(n as i64)
}

/// redis.set_repl: checked as Redis checks it; kevy always propagates what
/// a script wrote (its effects are the log's only record of them).
fn api_set_repl(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() != 1 {
        return raise_plain("redis.set_repl() requires two arguments.");
    }
    let n = lua.coerce_number(args[0].clone())?.unwrap_or(0.0) as i32;
    if n & !3 != 0 {
        return raise_plain(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        );
    }
    Ok(())
}

/// redis.acl_check_cmd: kevy has no ACL users, so every known command with
/// the right arity is allowed.
fn api_acl_check(_: &Lua, server: Option<&Server>, args: MultiValue) -> mlua::Result<bool> {
    if args.is_empty() {
        return raise_plain("Please specify at least one argument for this redis lib call");
    }
    let mut argv = OwnedArgs::default();
    if !lua_args(&args, &mut argv) {
        return raise_plain("Lua redis lib command arguments must be strings or integers");
    }
    let args = argv.args();
    match server.and_then(|s| s.table.lookup(args.get(0))) {
        Some(_) => Ok(true),
        None => raise_plain("Invalid command passed to redis.acl_check_cmd()"),
    }
}

/// A command's arguments from Lua values: strings as they are, numbers as
/// `%.17g`; false when one is neither.
fn lua_args(args: &MultiValue, argv: &mut OwnedArgs) -> bool {
    argv.clear();
    for v in args.iter() {
        match v {
            Value::String(s) => argv.push(&s.as_bytes()),
            Value::Integer(i) => argv.push(kevy_resp::format_double(*i as f64).as_bytes()),
            Value::Number(n) => argv.push(kevy_resp::format_double(*n).as_bytes()),
            _ => return false,
        }
    }
    true
}

// ---- redis.call -------------------------------------------------------------

/// Whether a script running on `shard` may use `key`: a key of this shard,
/// or on a scratch shard (which holds copies of the declared keys only) a
/// declared key. Everything else stops the run.
pub fn reachable(shard: &Shard, declared: Args<'_>, key: &[u8]) -> bool {
    // A scratch shard holds the declared keys only; while a transaction
    // holds or waits for keys here, an undeclared key may be one of them,
    // and reaching it would break that transaction's isolation.
    if shard.scratch || shard.locked {
        // Run over the whole keyspace: the keys copied so far.
        if let Some(e) = shard.escalation.as_ref() {
            return e.copied.contains(key);
        }
        return declared.iter().any(|k| k == key);
    }
    shard.slots.shard_of(key) == shard.id
}

/// Whether a script running on `shard` may run a command over every key
/// (KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHDB, FLUSHALL, SWAPDB): on a server
/// of one shard, or in a run over the whole keyspace once every shard's
/// key names are in the scratch shard. A round that finds keys and has no
/// names yet asks for them and runs on (it is undone anyway).
pub fn whole_keyspace(shard: &mut Shard) -> bool {
    if let Some(e) = shard.escalation.as_mut() {
        if e.discovering && !e.has_names {
            e.wants_names = true;
            return true;
        }
        return e.has_names;
    }
    !shard.scratch && shard.nshards <= 1
}

/// What a random pick over the whole keyspace (RANDOMKEY) does in a run
/// over the whole keyspace.
enum Pick {
    /// Answer what an earlier run picked at this point: its key is still
    /// there (or the database is still empty).
    Again(Option<Vec<u8>>),
    /// Pick, and remember the pick as the run's `i`-th.
    Record(usize),
}

/// Runs over the whole keyspace repeat the random picks of the run before
/// them: the random generator starts each run alike, but the scratch
/// shard's table is laid out anew as copies come in, so the same numbers
/// would pick other keys, and a script that reads the key it picked would
/// reach a new key in every round. `None` outside such a run.
fn random_pick(shard: &mut Shard, db: usize) -> Option<Pick> {
    let e = shard.escalation.as_mut().filter(|e| e.has_names)?;
    let i = e.pick_at;
    e.pick_at += 1;
    let again = match e.picks.get(i) {
        Some((d, Some(k))) if *d == db => {
            let k = k.clone();
            shard.store.db(db).contains(&k).then_some(Some(k))
        }
        Some((d, None)) if *d == db => (shard.store.db_counts(db).0 == 0).then_some(None),
        _ => None,
    };
    Some(match again {
        Some(k) => Pick::Again(k),
        None => Pick::Record(i),
    })
}

/// The string of a bulk reply, `None` for any other.
fn bulk_of(reply: &[u8]) -> Option<Vec<u8>> {
    let rest = reply.strip_prefix(b"$")?;
    let nl = rest.iter().position(|&b| b == b'\r')?;
    let len: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    rest.get(nl + 2..nl + 2 + len).map(<[u8]>::to_vec)
}

/// Whether [`reachable`] holds for every key on `shard`.
#[inline]
fn everything_reachable(shard: &Shard) -> bool {
    !shard.scratch && !shard.locked && shard.nshards <= 1
}

/// What a `redis.call` comes to, before Lua sees it.
enum Outcome {
    /// The command ran: its reply is in [`Run::reply`].
    Reply,
    /// PUBLISH's receivers.
    Int(i64),
    /// An error table's text: raised by redis.call, returned by
    /// redis.pcall.
    Fail(Vec<u8>),
    /// An error table's text, raised by both.
    Raise(Vec<u8>),
    /// The run stops here.
    Halt(Halt),
}

/// Why a `redis.call` stops the run.
#[derive(Debug)]
enum Halt {
    /// A key it cannot reach.
    NonLocal(Vec<u8>),
    /// A command over every key, which this run cannot see.
    Whole,
    /// SCRIPT KILL or FUNCTION KILL asked it to stop.
    Killed,
    /// The run was stopped already (a `pcall` caught the first stop).
    Stopped,
}

/// A failed check's error text (`luaPushError`: code ERR).
fn failed(msg: &str) -> Outcome {
    Outcome::Fail(super::convert::error_text(format!("ERR {msg}").as_bytes()))
}

/// redis.call (`raising`) and redis.pcall, called from Lua (`hooks.rs`):
/// checks the command as Redis's `scriptCall` does, runs it on the run's
/// shard, and pushes its reply onto the call's stack. Inlined into the
/// two C functions (a copy of about 1 KB): one call less per `redis.call`.
#[inline(always)]
pub(super) fn redis_call(stack: &mut Stack, raising: bool) -> Done {
    use super::hooks::push_error;
    let run = RUN.with(|slot| slot.borrow().clone());
    let outcome = match run.as_ref().map(|r| r.try_borrow_mut()) {
        Some(Ok(mut r)) => {
            let outcome = call(&mut r, stack);
            if let Outcome::Reply = outcome {
                let out = &r.reply;
                if raising && out.first() == Some(&b'-') {
                    let end = out.len().saturating_sub(2).max(1);
                    push_error(stack, &super::convert::error_text(&out[1..end]));
                    return Done::Raise;
                }
                if super::convert::push_reply(stack, out) {
                    return Done::Return;
                }
                push_error(stack, b"ERR malformed reply");
                return Done::Raise;
            }
            if let Outcome::Halt(h) = outcome {
                // The upvalue records the stop and raises (`halt`).
                r.halting = Some(h);
                return Done::CallUpvalue;
            }
            outcome
        }
        _ => Outcome::Raise(super::convert::error_text(
            b"ERR redis.call/pcall can only be called inside a script invocation",
        )),
    };
    match outcome {
        Outcome::Int(n) => {
            stack.push_number(n as f64);
            Done::Return
        }
        Outcome::Fail(text) if !raising => {
            push_error(stack, &text);
            Done::Return
        }
        Outcome::Fail(text) | Outcome::Raise(text) => {
            push_error(stack, &text);
            Done::Raise
        }
        Outcome::Reply | Outcome::Halt(_) => unreachable!("handled above"),
    }
}

/// Hands the run's keys and arguments to `f` (none outside a run).
pub(super) fn script_args(f: impl FnOnce(Args<'_>, Args<'_>)) {
    let run = RUN.with(|slot| slot.borrow().clone());
    let r = run.as_ref().and_then(|r| r.try_borrow().ok());
    match r {
        Some(r) if r.active => f(r.keys.args(), r.script_argv.args()),
        _ => f(Args::new(&[], &[]), Args::new(&[], &[])),
    }
}

/// Records why `redis.call` stopped the run and raises (the upvalue of
/// the `redis.call` C functions, called by them): the place is found from
/// the frame above that `redis.call` (level 1 is the C function, level 0
/// this one), as an error raised by `redis.call` itself is placed.
fn halt(lua: &Lua, r: &mut Run) -> mlua::Result<()> {
    match r.halting.take() {
        Some(Halt::NonLocal(key)) => {
            let at = location(lua, 2);
            stop(lua, r, Stop::NonLocal { key, at })
        }
        Some(Halt::Killed) => {
            let at = location(lua, 2);
            stop(lua, r, Stop::Killed { at })
        }
        Some(Halt::Whole) => {
            let at = location(lua, 2);
            stop(lua, r, Stop::Whole { at })
        }
        Some(Halt::Stopped) | None => raise(Raised::Stop),
    }
}

fn call(r: &mut Run, stack: &Stack) -> Outcome {
    if !r.active {
        return Outcome::Raise(super::convert::error_text(
            b"ERR redis.call/pcall can only be called inside a script invocation",
        ));
    }
    if r.stop.is_some() {
        return Outcome::Halt(Halt::Stopped);
    }
    if stack.is_empty() {
        return failed("Please specify at least one argument for this redis lib call");
    }
    let mut argv = std::mem::take(&mut r.argv);
    argv.clear();
    let outcome = if super::convert::read_args(stack, &mut argv) {
        // Taken out for the call rather than cloned: no reference count
        // traffic per command.
        match r.server.take() {
            Some(server) => {
                let outcome = call_checked(r, &server, argv.args());
                r.server = Some(server);
                outcome
            }
            None => failed("Unknown Redis command called from script"),
        }
    } else {
        failed("Lua redis lib command arguments must be strings or integers")
    };
    r.argv = argv;
    outcome
}

fn call_checked(r: &mut Run, server: &Arc<Server>, args: Args<'_>) -> Outcome {
    let table = &server.table;
    let Some(cmd) = table.lookup(args.get(0)) else {
        return failed("Unknown Redis command called from script");
    };
    let spec = table.get(cmd);
    let subs = table.subs(cmd);
    let (arity, cmd_flags) = if subs.is_empty() || args.len() < 2 {
        (spec.arity, spec.flags)
    } else {
        let sub = args.get(1);
        match subs
            .iter()
            .find(|s| s.short().as_bytes().eq_ignore_ascii_case(sub))
        {
            Some(s) => (s.arity, s.flags),
            None => return failed("Unknown Redis command called from script"),
        }
    };
    if !arity_ok(arity, args.len()) {
        return failed("Wrong number of args calling Redis command from script");
    }
    if cmd_flags & flag::NOSCRIPT != 0 {
        return failed("This Redis command is not allowed from script");
    }
    // Redis counts PUBLISH as a write here (it may replicate), though its
    // flags do not say so.
    let publish = matches!(
        spec.route,
        RouteKind::PubSub(kevy_rt::PubSubOp::Publish | kevy_rt::PubSubOp::SPublish)
    );
    if r.read_only && (cmd_flags & (flag::WRITE | flag::MAY_REPLICATE) != 0 || publish) {
        return failed("Write commands are not allowed from read-only scripts.");
    }
    if r.oom && !r.wrote && cmd_flags & flag::DENYOOM != 0 {
        return Outcome::Fail(super::convert::error_text(crate::evict::OOM.as_bytes()));
    }
    if cmd_flags & flag::WRITE != 0 {
        r.wrote = true;
        if r.busy {
            // SCRIPT KILL stores `kill` and then reads `wrote`; this
            // stores `wrote` and then reads `kill` (SeqCst both): one of
            // the two sees the other, so a killed script never writes.
            r.running.wrote.store(true, Ordering::SeqCst);
            if r.running.kill.load(Ordering::SeqCst) {
                return Outcome::Halt(Halt::Killed);
            }
        }
    }
    let mut client = r.client;
    client.db = r.db as u32;
    client.resp3 = r.resp3;
    let route = match spec.route {
        RouteKind::Keys(fold) => Ok(spec.keys_route(fold)),
        RouteKind::All(fold) => Ok(Route::All(fold)),
        RouteKind::Custom(f) | RouteKind::Reading { route: f, .. } => {
            f(args, &client, r.shard.nshards)
        }
        RouteKind::Conn => Ok(Route::Conn),
        RouteKind::Tx(op) => Ok(Route::Tx(op)),
        RouteKind::PubSub(op) => Ok(Route::PubSub(op)),
    };
    let route = match route {
        Ok(route) => route,
        Err(msg) => {
            // The command's own argument error, as its reply.
            return Outcome::Fail(super::convert::error_text(msg.as_bytes()));
        }
    };
    let declared = std::mem::take(&mut r.keys);
    let blocked = match route {
        // One shard that no transaction holds, and no write to undo:
        // every key is reachable and nothing is kept (see `reachable`).
        Route::Keys { .. } if r.undo.is_none() && everything_reachable(&r.shard) => None,
        Route::Keys { .. } => {
            let mut bad = route
                .keys(args)
                .find(|k| !reachable(&r.shard, declared.args(), k));
            if bad.is_some() {
                if let Some(e) = r.shard.escalation.as_mut().filter(|e| e.discovering) {
                    // A round that finds keys: note those not copied yet,
                    // and run on as if they did not exist.
                    for k in route.keys(args) {
                        if !e.copied.contains(k) && !e.missing.contains(k) {
                            e.missing.insert(k.to_vec());
                        }
                    }
                    bad = None;
                }
            }
            if bad.is_none() && cmd_flags & flag::WRITE != 0 {
                if let Some(saved) = r.undo.as_mut() {
                    for k in route.keys(args) {
                        if !saved.iter().any(|(s, _)| s == k) {
                            let snap = r.shard.store.export(k);
                            saved.push((k.to_vec(), snap));
                        }
                    }
                }
            }
            bad.map(<[u8]>::to_vec)
        }
        // A command over every key (its ACL category says so: MEMORY
        // PURGE is none) sees them all only where `whole_keyspace` says.
        Route::All(fold) if fold != kevy_rt::Fold::One && spec.acl.contains(&"@keyspace") => {
            if !whole_keyspace(&mut r.shard) {
                r.keys = declared;
                return Outcome::Halt(Halt::Whole);
            }
            None
        }
        // A command that finds its keys by reading values (SORT's BY and
        // GET patterns): over the whole keyspace, the keys it names from
        // the copies so far, as a keyed command's; elsewhere (one shard
        // aside) it makes the script run over the whole keyspace.
        Route::All(kevy_rt::Fold::One) if r.shard.nshards > 1 || r.shard.scratch => {
            match spec.route {
                RouteKind::Reading { keys, .. } if r.shard.escalation.is_some() => {
                    let named = keys(&mut r.shard.store.db(r.db), args);
                    let mut bad = None;
                    if let Some(e) = r.shard.escalation.as_mut() {
                        for k in named {
                            if e.copied.contains(&k) {
                                continue;
                            }
                            if e.discovering {
                                e.missing.insert(k);
                            } else if bad.is_none() {
                                bad = Some(k);
                            }
                        }
                    }
                    bad
                }
                RouteKind::Reading { .. } => {
                    r.keys = declared;
                    return Outcome::Halt(Halt::Whole);
                }
                _ => Some(Vec::new()),
            }
        }
        Route::Shard(s) if s % r.shard.nshards.max(1) != r.shard.id || r.shard.scratch => {
            Some(Vec::new())
        }
        // PUBLISH and SPUBLISH answer the receivers they will reach; the
        // message goes out when the script's command ends, as its keyspace
        // events do.
        Route::PubSub(op @ (kevy_rt::PubSubOp::Publish | kevy_rt::PubSubOp::SPublish))
            if args.len() == 3 =>
        {
            r.keys = declared;
            let sharded = op == kevy_rt::PubSubOp::SPublish;
            let n = server.rt_stats.receivers(args.get(1), sharded);
            r.shard
                .script_pubs
                .push((args.get(1).to_vec(), args.get(2).to_vec(), sharded));
            return Outcome::Int(n as i64);
        }
        // PUBSUB's questions, answered from the server-wide directory.
        Route::PubSub(
            op @ (kevy_rt::PubSubOp::Channels
            | kevy_rt::PubSubOp::NumSub
            | kevy_rt::PubSubOp::NumPat
            | kevy_rt::PubSubOp::ShardChannels
            | kevy_rt::PubSubOp::ShardNumSub),
        ) => {
            r.keys = declared;
            let mut out = std::mem::take(&mut r.reply);
            out.clear();
            server
                .rt_stats
                .pubsub_introspect(r.resp3, op, args, &mut out);
            r.reply = out;
            return Outcome::Reply;
        }
        Route::PubSub(_) | Route::Clients { .. } | Route::Tx(_) => {
            r.keys = declared;
            return failed("This Redis command is not allowed from script");
        }
        _ => None,
    };
    r.keys = declared;
    if let Some(key) = blocked {
        return Outcome::Halt(Halt::NonLocal(key));
    }
    let pick = match route {
        Route::All(kevy_rt::Fold::Random) => random_pick(&mut r.shard, r.db),
        _ => None,
    };
    if let Some(Pick::Again(key)) = pick {
        let mut out = std::mem::take(&mut r.reply);
        out.clear();
        let mut reply = Reply::new(&mut out, r.resp3);
        match key {
            Some(k) => reply.bulk(&k),
            None => reply.null(),
        }
        r.reply = out;
        return Outcome::Reply;
    }

    // Run it, as the service's execution point would, its effect recorded
    // as a nested command's.
    let dirty = r.shard.store.dirty;
    let prop = r.shard.prop_attached;
    if prop {
        r.shard.prop().begin_nested();
    }
    let mut out = std::mem::take(&mut r.reply);
    out.clear();
    let t0 = kevy_sys::clock::cycles();
    match spec.run {
        Handler::Shard(f) => f(&mut Ctx {
            shard: &mut r.shard,
            db: r.db,
            client: &client,
            args,
            out: Reply::new(&mut out, r.resp3),
        }),
        Handler::Conn(f) => {
            let mut session = Session::default();
            let resp3 = client.resp3;
            f(&mut ConnCtx {
                server,
                shard: &mut r.shard,
                client: &mut client,
                session: &mut session,
                args,
                out: Reply::new(&mut out, resp3),
            });
            // SELECT changes the script's database only.
            r.db = client.db as usize;
        }
    }
    let took = kevy_sys::clock::cycles().wrapping_sub(t0);
    if let (Some(Pick::Record(i)), Some(e)) = (pick, r.shard.escalation.as_mut()) {
        e.picks.truncate(i);
        e.picks.push((r.db, bulk_of(&out)));
    }
    // What a script reads is its caller's read for client-side caching,
    // as in Redis: the keys go to the tracking table after the script.
    if cmd_flags & flag::READONLY != 0 && client.tracking.records_reads() {
        if let Route::Keys { .. } = route {
            for k in route.keys(args) {
                r.shard.script_reads.push(k.to_vec());
            }
        }
    }
    if prop {
        let changed = r.shard.store.dirty != dirty;
        let db = r.db as u32;
        r.shard.prop().end_nested(db, args, changed);
    }
    let slot = table.stat_slot(cmd, args);
    r.calls
        .push(crate::stats::Recorded::new(slot, 0, took, &out));
    r.reply = out;
    Outcome::Reply
}

/// Stops the run: every later `redis.call` and a hook on every
/// instruction raise the same error, so no `pcall` keeps the script going.
fn stop<T>(lua: &Lua, r: &mut Run, why: Stop) -> mlua::Result<T> {
    r.stop = Some(why);
    lua.set_hook(HookTriggers::new().every_nth_instruction(1), |_, _| {
        raise(Raised::Stop)
    })?;
    raise(Raised::Stop)
}

/// The hook every [`HOOK_EVERY`] instructions: a run past
/// `busy-reply-threshold` becomes busy (other connections get BUSY and may
/// kill it), and a busy run asked to stop (SCRIPT KILL, FUNCTION KILL, a
/// shutdown) stops.
fn set_busy_hook(lua: &Lua, run: &Rc<RefCell<Run>>) -> mlua::Result<()> {
    let run = run.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |lua, _| {
            let Ok(mut r) = run.try_borrow_mut() else {
                return Ok(VmState::Continue);
            };
            busy_check(lua, &mut r)?;
            Ok(VmState::Continue)
        },
    )
}

fn busy_check(lua: &Lua, r: &mut Run) -> mlua::Result<()> {
    if !r.active || r.stop.is_some() {
        return Ok(());
    }
    let Some(server) = r.server.clone() else {
        return Ok(());
    };
    if !r.busy {
        let ms = server.scripts.busy_threshold_ms();
        let started = *r.started.get_or_insert_with(std::time::Instant::now);
        if ms == 0 || started.elapsed() < std::time::Duration::from_millis(ms) {
            return Ok(());
        }
        r.busy = true;
        let run = &r.running;
        run.wrote.store(r.wrote, Ordering::SeqCst);
        run.function.store(r.function, Ordering::Relaxed);
        run.kill.store(false, Ordering::SeqCst);
        *run.call.lock().unwrap_or_else(|e| e.into_inner()) =
            r.function.then(|| super::RunningCall {
                name: r.fn_name.clone(),
                command: r.fn_command.args().iter().map(<[u8]>::to_vec).collect(),
                started,
            });
        server.scripts.became_busy(r.running.clone());
    }
    // The thread's other connections get their answers (BUSY, or a
    // SCRIPT KILL that is seen just below).
    kevy_rt::serve_while_busy::<crate::service::Kevy>(&mut r.shard);
    if r.running.kill.load(Ordering::SeqCst) || kevy_sys::signal::shutdown_requested() {
        let at = location(lua, 0);
        return stop(lua, r, Stop::Killed { at });
    }
    Ok(())
}

// ---- functions ------------------------------------------------------------------

/// redis.register_function, while FUNCTION LOAD runs a library's code:
/// positional `(name, callback)` or named `{function_name=, callback=,
/// flags=, description=}`, with Redis's errors.
fn register(lua: &Lua, r: &mut Run, args: MultiValue) -> mlua::Result<()> {
    let Some(registered) = r.registering.as_mut() else {
        return raise_plain("redis.register_function can only be called on FUNCTION LOAD command");
    };
    let as_string = |v: &Value| -> mlua::Result<Option<Vec<u8>>> {
        Ok(match v {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Integer(_) | Value::Number(_) => {
                lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec())
            }
            _ => None,
        })
    };
    let (name, callback, description, flags) = match args.len() {
        2 => {
            let Some(name) = as_string(&args[0])? else {
                return raise_plain("first argument to redis.register_function must be a string");
            };
            let Value::Function(f) = &args[1] else {
                return raise_plain(
                    "second argument to redis.register_function must be a function",
                );
            };
            (name, f.clone(), None, 0)
        }
        1 => {
            let Value::Table(t) = &args[0] else {
                return raise_plain(
                    "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
                );
            };
            let (mut name, mut callback, mut description, mut flags) = (None, None, None, 0);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let Some(key) = as_string(&k)? else {
                    return raise_plain(
                        "named argument key given to redis.register_function is not a string",
                    );
                };
                if key.eq_ignore_ascii_case(b"function_name") {
                    match as_string(&v)? {
                        Some(n) => name = Some(n),
                        None => return raise_plain(
                            "function_name argument given to redis.register_function must be a string",
                        ),
                    }
                } else if key.eq_ignore_ascii_case(b"description") {
                    match as_string(&v)? {
                        Some(d) => description = Some(d),
                        None => return raise_plain(
                            "description argument given to redis.register_function must be a string",
                        ),
                    }
                } else if key.eq_ignore_ascii_case(b"callback") {
                    match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return raise_plain(
                            "callback argument given to redis.register_function must be a function",
                        ),
                    }
                } else if key.eq_ignore_ascii_case(b"flags") {
                    let Value::Table(list) = v else {
                        return raise_plain(
                            "flags argument to redis.register_function must be a table representing function flags",
                        );
                    };
                    flags = 0;
                    for i in 1.. {
                        let f = list.get::<Value>(i)?;
                        if f.is_nil() {
                            break;
                        }
                        let known = as_string(&f)?.and_then(|s| {
                            super::flags::NAMES
                                .iter()
                                .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&s))
                                .map(|(bit, _)| *bit)
                        });
                        match known {
                            Some(bit) => flags |= bit,
                            None => return raise_plain("unknown flag given"),
                        }
                    }
                } else {
                    return raise_plain("unknown argument given to redis.register_function");
                }
            }
            let Some(name) = name else {
                return raise_plain("redis.register_function must get a function name argument");
            };
            let Some(callback) = callback else {
                return raise_plain("redis.register_function must get a callback argument");
            };
            (name, callback, description, flags)
        }
        _ => return raise_plain("wrong number of arguments to redis.register_function"),
    };
    if !valid_name(&name) {
        return raise_plain(NAME_RULE);
    }
    if registered.iter().any(|(f, _)| f.name == name) {
        return raise_plain("Function already exists in the library");
    }
    registered.push((
        FunctionInfo {
            name,
            description,
            flags,
        },
        callback,
    ));
    Ok(())
}

const NAME_RULE: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A library's metadata line (`#!lua name=<name>`): its name and where its
/// code starts (at the line's newline, so line numbers stay).
fn library_meta(code: &[u8]) -> Result<(Vec<u8>, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = &code[..end];
    let parts: Vec<&[u8]> = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    let Some(first) = parts.first() else {
        return Err("ERR Invalid library metadata".into());
    };
    let engine = &first[2..];
    let mut name = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(p[5..].to_vec());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(format!("ERR {NAME_RULE}"));
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        ));
    }
    Ok((name, end))
}

/// Runs a library's code in this thread's state: what it registered, or
/// the error FUNCTION LOAD replies.
fn run_library(
    e: &mut Engine,
    code: &[u8],
    from: usize,
) -> Result<Vec<(FunctionInfo, Function)>, String> {
    let func = e
        .lua
        .load(&code[from..])
        .set_name("@user_function")
        .set_environment(e.fn_env.clone())
        .into_function()
        .map_err(|err| match err {
            mlua::Error::SyntaxError { message, .. } => {
                format!("ERR Error compiling function: {message}")
            }
            other => format!("ERR Error compiling function: {other}"),
        })?;
    e.run.borrow_mut().registering = Some(Vec::new());
    let ran: mlua::Result<(bool, Value)> = e.load_library.call(func);
    let registered = e.run.borrow_mut().registering.take().unwrap_or_default();
    let err = match ran {
        Ok((true, _)) => return Ok(registered),
        Ok((false, Value::Table(t))) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => "ERR unknown error".into(),
        },
        Ok((false, Value::String(s))) => format!("ERR {}", s.to_string_lossy()),
        Ok((false, v)) => format!("ERR {v:?}"),
        Err(err) => format!("ERR {err}"),
    };
    Err(format!("Error registering functions: {err}"))
}

/// FUNCTION LOAD \[REPLACE\]: loads the library on this thread (its code
/// runs here) and adds it to the server's: its name.
pub fn function_load(server: &Server, code: &[u8], replace: bool) -> Result<Vec<u8>, String> {
    let (name, from) = library_meta(code)?;
    let exists = |libs: &Libraries| libs.libs.contains_key(&name);
    if !replace && exists(&server.scripts.lock_libraries()) {
        return Err(format!(
            "ERR Library '{}' already exists",
            String::from_utf8_lossy(&name)
        ));
    }
    let registered = with_engine(|e| run_library(e, code, from))?.map_err(|m| {
        if m.starts_with("ERR Error compiling") {
            m
        } else {
            format!("ERR {m}")
        }
    })?;
    if registered.is_empty() {
        return Err("ERR No functions registered".into());
    }
    let lib = Library {
        name: name.clone(),
        code: code.into(),
        functions: registered.into_iter().map(|(f, _)| f).collect(),
    };
    let mut libs = server.scripts.lock_libraries();
    add_library(&mut libs, lib, replace)?;
    drop(libs);
    server.scripts.libraries_changed(&server.persist);
    Ok(name)
}

/// Adds `lib` to `libs`, replacing a library of its name when `replace`;
/// fails on a name taken by another library's function.
fn add_library(libs: &mut Libraries, lib: Library, replace: bool) -> Result<(), String> {
    if libs.libs.contains_key(&lib.name) && !replace {
        // FUNCTION LOAD checks this first, with quotes; RESTORE lands here.
        return Err(format!(
            "ERR Library {} already exists",
            String::from_utf8_lossy(&lib.name)
        ));
    }
    for f in &lib.functions {
        if let Some(owner) = libs.funcs.get(&f.name) {
            if *owner != lib.name {
                return Err(format!(
                    "ERR Function {} already exists",
                    String::from_utf8_lossy(&f.name)
                ));
            }
        }
    }
    if let Some(old) = libs.libs.remove(&lib.name) {
        for f in &old.functions {
            libs.funcs.remove(&f.name);
        }
    }
    for f in &lib.functions {
        libs.funcs.insert(f.name.clone(), lib.name.clone());
    }
    libs.libs.insert(lib.name.clone(), lib);
    Ok(())
}

/// Brings this thread's functions up to date with the server's libraries.
fn sync_functions(e: &mut Engine, server: &Server) {
    let gen = server.scripts.fn_generation();
    if gen == e.fn_generation {
        return;
    }
    let codes: Vec<Arc<[u8]>> = server
        .scripts
        .lock_libraries()
        .libs
        .values()
        .map(|l| l.code.clone())
        .collect();
    e.functions.clear();
    for code in codes {
        let Ok((_, from)) = library_meta(&code) else {
            continue;
        };
        if let Ok(registered) = run_library(e, &code, from) {
            for (info, func) in registered {
                e.functions.insert(
                    info.name,
                    Compiled {
                        func,
                        flags: info.flags,
                    },
                );
            }
        }
    }
    e.fn_generation = gen;
}

/// FCALL / FCALL_RO: `[cmd, function, numkeys, keys…, args…]`.
pub fn fcall(ctx: &mut Ctx<'_>, ro: bool) {
    let Some(server) = ctx.shard.server.clone() else {
        return ctx.out.error("ERR scripting is not available here");
    };
    let outcome = with_engine(|e| {
        sync_functions(e, &server);
        let name = ctx.args.get(1);
        let Some(c) = e.functions.get(name) else {
            return ctx.out.error("ERR Function not found");
        };
        let (func, f) = (c.func.clone(), c.flags);
        let args = ctx.args;
        let Some(n) = kevy_store::num::parse_i64(args.get(2)) else {
            return ctx.out.error("ERR Bad number of keys provided");
        };
        if n > args.len() as i64 - 3 {
            return ctx
                .out
                .error("ERR Number of keys can't be greater than number of args");
        }
        if n < 0 {
            return ctx.out.error("ERR Number of keys can't be negative");
        }
        let name = String::from_utf8_lossy(name).into_owned();
        run(e, ctx, &server, &func, f, ro, &name, true);
    });
    if let Err(msg) = outcome {
        ctx.out.error(&msg);
    }
}

/// FUNCTION DUMP: every library as an RDB function record, then the RDB
/// version and a CRC-64, as DUMP's payloads.
pub fn function_dump(server: &Server) -> Vec<u8> {
    let libs = server.scripts.lock_libraries();
    kevy_persist::rdb::function_payload(libs.libs.values().map(|lib| &lib.code[..]))
}

/// The libraries' codes in a FUNCTION DUMP payload.
fn parse_dump(p: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use kevy_persist::rdb::PayloadError;
    kevy_persist::rdb::read_function_payload(p).map_err(|e| {
        match e {
            PayloadError::Footer => "ERR DUMP payload version or checksum are wrong",
            PayloadError::NotAFunction => "ERR given type is not a function",
            PayloadError::BadData => "ERR Bad data format",
        }
        .to_string()
    })
}

/// How FUNCTION RESTORE treats libraries already there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// FUNCTION RESTORE: loads every library of the payload (each runs on this
/// thread), then applies them all or none.
pub fn function_restore(
    server: &Server,
    payload: &[u8],
    policy: RestorePolicy,
) -> Result<(), String> {
    let codes = parse_dump(payload)?;
    let mut loaded = Vec::new();
    for code in codes {
        let (name, from) = library_meta(&code)?;
        let registered = with_engine(|e| run_library(e, &code, from))?.map_err(|m| {
            if m.starts_with("ERR Error compiling") {
                m
            } else {
                format!("ERR {m}")
            }
        })?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        loaded.push(Library {
            name,
            code: code.into(),
            functions: registered.into_iter().map(|(f, _)| f).collect(),
        });
    }
    let mut libs = server.scripts.lock_libraries();
    let mut next = match policy {
        RestorePolicy::Flush => Libraries::default(),
        _ => Libraries {
            libs: libs.libs.clone(),
            funcs: libs.funcs.clone(),
        },
    };
    for lib in loaded {
        add_library(&mut next, lib, policy == RestorePolicy::Replace)?;
    }
    *libs = next;
    drop(libs);
    server.scripts.libraries_changed(&server.persist);
    Ok(())
}

/// Applies a change of the libraries read back from the log. The log and
/// a base may both hold a change (a base taken after it was logged), so a
/// change that finds the state already there is no error.
pub fn replay_function(server: &Server, args: Args<'_>) -> Result<(), String> {
    let sub = args.get(1);
    if sub.eq_ignore_ascii_case(b"load") {
        function_load(server, args.get(args.len() - 1), true).map(|_| ())
    } else if sub.eq_ignore_ascii_case(b"delete") {
        let mut libs = server.scripts.lock_libraries();
        if let Some(lib) = libs.libs.remove(args.get(2)) {
            for f in &lib.functions {
                libs.funcs.remove(&f.name);
            }
        }
        drop(libs);
        server.scripts.libraries_changed(&server.persist);
        Ok(())
    } else if sub.eq_ignore_ascii_case(b"flush") {
        *server.scripts.lock_libraries() = Libraries::default();
        server.scripts.libraries_changed(&server.persist);
        Ok(())
    } else if sub.eq_ignore_ascii_case(b"restore") {
        let policy = match args.len() > 3 {
            true if args.get(3).eq_ignore_ascii_case(b"flush") => RestorePolicy::Flush,
            _ => RestorePolicy::Replace,
        };
        function_restore(server, args.get(2), policy)
    } else {
        Err("an unknown FUNCTION change in the log".into())
    }
}

#[cfg(test)]
mod tests {
    use super::reachable;
    use crate::shard::Shard;
    use kevy_resp::OwnedArgs;

    #[test]
    fn reachable_keys_follow_the_shard_and_its_locks() {
        let (a, b) = {
            let a = "k0".to_string();
            let home = kevy_rt::shard_of(a.as_bytes(), 2);
            let b = (1..)
                .map(|i| format!("k{i}"))
                .find(|k| kevy_rt::shard_of(k.as_bytes(), 2) == home)
                .unwrap();
            (a, b)
        };
        let home = kevy_rt::shard_of(a.as_bytes(), 2);
        let other = (0..)
            .map(|i| format!("o{i}"))
            .find(|k| kevy_rt::shard_of(k.as_bytes(), 2) != home)
            .unwrap();
        let mut shard = Shard::new(home, 2);
        let declared = OwnedArgs::from_slices([a.as_bytes()]);
        let d = declared.args();
        assert!(reachable(&shard, d, a.as_bytes()));
        assert!(reachable(&shard, d, b.as_bytes()), "undeclared, same shard");
        assert!(!reachable(&shard, d, other.as_bytes()));
        // A transaction holds or waits for keys here: undeclared keys may
        // be among them.
        shard.locked = true;
        assert!(reachable(&shard, d, a.as_bytes()));
        assert!(!reachable(&shard, d, b.as_bytes()));
        shard.locked = false;
        shard.scratch = true;
        assert!(!reachable(&shard, d, b.as_bytes()));
        // Run over the whole keyspace: the keys copied so far, declared
        // or not.
        let mut e = crate::scripting::Escalation::default();
        e.copied.insert(other.clone().into_bytes());
        shard.escalation = Some(Box::new(e));
        assert!(reachable(&shard, d, other.as_bytes()));
        assert!(!reachable(&shard, d, a.as_bytes()), "declared, not copied");
    }
}
