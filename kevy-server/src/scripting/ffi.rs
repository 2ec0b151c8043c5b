//! `redis.call` and `redis.pcall` as C functions on Lua's C API: the one
//! place of kevy-server with `unsafe` code.
//!
//! Through mlua's safe API, every argument of a call and every value it
//! returns is a handle (a slot in mlua's reference thread, taken and given
//! back), and the arguments arrive as a heap-allocated list: about 3,000
//! instructions of a two-command script's 16,500 went there. Here the
//! arguments are read straight off the stack into the run's argument
//! buffer, and the reply is pushed straight onto it. A run's KEYS and ARGV
//! are made the same way ([`args_function`]).
//!
//! # Stack discipline
//!
//! A call enters with its arguments at stack indices `1..=n` and the
//! guaranteed `LUA_MINSTACK` free slots above them. The arguments are only
//! read (`lua_type`, `lua_tolstring` of a string, `lua_tonumber` of a
//! number: none converts a value in place, allocates or raises). Then
//! exactly one value is pushed above them: the command's reply, or an error
//! table `{err = text}`; converting a nested reply checks for room at each
//! level (`lua_checkstack`). The C function returns that value (1), or
//! raises it with `lua_error`, which longjmps: it is called in
//! [`entry`], after every Rust value of the call has been dropped, so the
//! jump skips no destructor. A run that stops (a key it cannot reach, a
//! kill) leaves the stack as it found it and calls the closure's upvalue,
//! an mlua function that records the stop and raises; the same holds
//! there.
//!
//! # What cannot raise
//!
//! Between entry and return, the only Lua API calls that push or allocate
//! are `lua_pushlstring`, `lua_pushnumber`, `lua_pushboolean`,
//! `lua_pushnil`, `lua_createtable`, `lua_rawset`, `lua_rawseti` and
//! `lua_checkstack`. None raises a Lua error here: the keys set are never
//! nil or NaN, tables are fresh (no metatable), and the state's allocator
//! (mlua's) has no memory limit and aborts when the process allocator
//! fails rather than returning an error to Lua. A garbage-collection step
//! they trigger runs no finalizer that raises (scripts cannot create
//! userdata with `__gc`; mlua's finalizers do not raise). So no `longjmp`
//! crosses the Rust frames that hold the run's state.
//!
//! A panic inside the command is caught before it reaches Lua's C frames,
//! raised as an error, and resumed by the run once the script is over
//! ([`take_panic`]).

#![allow(unsafe_code)]

use mlua::ffi;
use mlua::{Function, Lua};
use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_int;
use std::panic::AssertUnwindSafe;

/// How many nested levels a reply may have before its conversion stops
/// (Redis stops where Lua's C stack does).
const MAX_DEPTH: usize = 1000;

thread_local! {
    static PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// A panic caught in a `redis.call` of the run that just ended, to resume.
pub(super) fn take_panic() -> Option<Box<dyn Any + Send>> {
    PANIC.with(|p| p.borrow_mut().take())
}

/// What [`entry`] does once the call's Rust side is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Done {
    /// Return the value pushed.
    Return,
    /// Raise the value pushed.
    Raise,
    /// Call the stop function (the closure's upvalue), which raises.
    Stop,
}

/// The stack of one call of `redis.call` or `redis.pcall`: its arguments
/// at `1..=args`. Made only by [`entry`], for the duration of the call.
pub(super) struct Frame {
    l: *mut ffi::lua_State,
    args: c_int,
}

impl Frame {
    /// How many arguments the call has.
    pub(super) fn len(&self) -> usize {
        self.args as usize
    }

    /// Appends the arguments to `argv` as Redis reads them: strings as
    /// they are, numbers as `%.17g`. False (and `argv` partly filled) when
    /// one is of another type.
    pub(super) fn read_args(&self, argv: &mut kevy_resp::OwnedArgs) -> bool {
        for i in 1..=self.args {
            // SAFETY: `i` is within the call's arguments (`1..=args`, the
            // stack as the call entered), so it is a valid index.
            let t = unsafe { ffi::lua_type(self.l, i) };
            match t {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    // SAFETY: the value at `i` is a string, so
                    // `lua_tolstring` neither converts it nor allocates,
                    // and returns its bytes, `len` of them, which live as
                    // long as the value stays on the stack: they are
                    // copied before this loop goes on.
                    let bytes = unsafe {
                        let p = ffi::lua_tolstring(self.l, i, &mut len);
                        std::slice::from_raw_parts(p as *const u8, len)
                    };
                    argv.push(bytes);
                }
                ffi::LUA_TNUMBER => {
                    // SAFETY: a valid index holding a number.
                    let n = unsafe { ffi::lua_tonumber(self.l, i) };
                    argv.push(kevy_resp::format_double(n).as_bytes());
                }
                _ => return false,
            }
        }
        true
    }

    /// Pushes the error table `{err = text}` (Redis's `luaPushError`).
    pub(super) fn push_error(&self, text: &[u8]) {
        // SAFETY: room for the table and one string is part of the call's
        // LUA_MINSTACK slots; neither push raises (module doc).
        unsafe { push_error_table(self.l, text) }
    }

    /// Pushes a number (PUBLISH's receivers).
    pub(super) fn push_int(&self, n: i64) {
        // SAFETY: one slot of the call's LUA_MINSTACK.
        unsafe { ffi::lua_pushnumber(self.l, n as f64) }
    }

    /// Pushes the one complete reply at the start of `buf` as Redis's
    /// `redisProtocolToLuaType` makes it; false (nothing pushed) when it is
    /// malformed or nested too deep.
    pub(super) fn push_reply(&self, buf: &[u8]) -> bool {
        // SAFETY: `push_reply` keeps to the stack discipline of the module
        // doc: it checks for room at each level and pushes one value, or
        // restores the top on failure.
        unsafe {
            let top = ffi::lua_gettop(self.l);
            if push_reply(self.l, buf, 0).is_some() {
                return true;
            }
            ffi::lua_settop(self.l, top);
            false
        }
    }
}

/// `redis.call` and `redis.pcall`: C closures whose upvalue is `stop`.
pub(super) fn functions(lua: &Lua, stop: Function) -> mlua::Result<(Function, Function)> {
    let make = |f: ffi::lua_CFunction| -> mlua::Result<Function> {
        // SAFETY: `exec_raw` runs the closure in protected mode with the
        // argument (`stop`) on the stack; `lua_pushcclosure` pops it as
        // the closure's one upvalue and pushes the closure, the result.
        // `f` follows the C function protocol (module doc).
        unsafe {
            lua.exec_raw::<Function>(stop.clone(), |l| {
                ffi::lua_pushcclosure(l, f, 1);
            })
        }
    };
    Ok((make(redis_call)?, make(redis_pcall)?))
}

/// The function the prelude's runners call for the run's keys and
/// arguments: two fresh arrays (KEYS and ARGV, or a function's two
/// tables), as Redis makes them for every run.
pub(super) fn args_function(lua: &Lua) -> mlua::Result<Function> {
    // SAFETY: `script_args` follows the C function protocol: it pushes
    // two values and returns 2 (module doc).
    unsafe { lua.create_c_function(script_args) }
}

unsafe extern "C-unwind" fn script_args(l: *mut ffi::lua_State) -> c_int {
    let push = |items: kevy_resp::Args<'_>| {
        // SAFETY: `l` is the state of this C function call; two tables
        // and one string above them fit in its LUA_MINSTACK slots; the
        // pushes do not raise (module doc).
        unsafe {
            ffi::lua_createtable(l, items.len().min(1 << 24) as c_int, 0);
            for (i, item) in items.iter().enumerate() {
                push_str(l, item);
                ffi::lua_rawseti_(l, -2, i as c_int + 1);
            }
        }
    };
    super::engine::script_args(|keys, argv| {
        push(keys);
        push(argv);
    });
    2
}

unsafe extern "C-unwind" fn redis_call(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function, with `l` its state.
    unsafe { entry(l, true) }
}

unsafe extern "C-unwind" fn redis_pcall(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `redis_call`.
    unsafe { entry(l, false) }
}

/// The body of both C functions.
///
/// # Safety
/// `l` is the state of a C function call in progress, as Lua makes it.
unsafe fn entry(l: *mut ffi::lua_State, raising: bool) -> c_int {
    // SAFETY: `l` is valid (the caller's contract).
    let frame = Frame {
        l,
        args: unsafe { ffi::lua_gettop(l) },
    };
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        super::engine::redis_call(&frame, raising)
    }));
    let done = match run {
        Ok(done) => done,
        Err(payload) => {
            PANIC.with(|p| *p.borrow_mut() = Some(payload));
            // SAFETY: back to the call's arguments, then one push.
            unsafe {
                ffi::lua_settop(l, frame.args);
                push_error_table(l, b"ERR internal error in redis.call");
            }
            Done::Raise
        }
    };
    // No Rust value with a destructor lives past this point: `frame` and
    // `done` are plain data, so the jumps below skip nothing.
    match done {
        Done::Return => 1,
        // SAFETY: the error value is on top of the stack.
        Done::Raise => unsafe { ffi::lua_error(l) },
        Done::Stop => {
            // SAFETY: the upvalue is the stop function (`functions`); it
            // takes no argument and always raises, so `lua_call` does not
            // return; the stack has room for one push (LUA_MINSTACK).
            unsafe {
                ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
                ffi::lua_call(l, 0, 0);
            }
            0
        }
    }
}

/// Pushes `{err = text}`.
///
/// # Safety
/// `l` is a valid state with room for two pushes.
unsafe fn push_error_table(l: *mut ffi::lua_State, text: &[u8]) {
    unsafe {
        ffi::lua_createtable(l, 0, 1);
        push_str(l, b"err");
        push_str(l, text);
        ffi::lua_rawset(l, -3);
    }
}

/// # Safety
/// `l` is a valid state with room for one push.
unsafe fn push_str(l: *mut ffi::lua_State, s: &[u8]) {
    unsafe { ffi::lua_pushlstring_(l, s.as_ptr() as *const _, s.len()) }
}

/// Sets `t[name] = <top>` on the table just below the top, popping the
/// value.
///
/// # Safety
/// `l` is valid, the top is a value and the slot below it a table; one
/// slot of room.
unsafe fn set_field(l: *mut ffi::lua_State, name: &[u8]) {
    unsafe {
        push_str(l, name);
        ffi::lua_insert(l, -2);
        ffi::lua_rawset(l, -3);
    }
}

/// The reply at the start of `buf`, pushed: the bytes it took, or `None`
/// (malformed, or deeper than [`MAX_DEPTH`]; the stack is then left for
/// the caller to reset).
///
/// # Safety
/// `l` is a valid state; the function checks for its own room.
unsafe fn push_reply(l: *mut ffi::lua_State, buf: &[u8], depth: usize) -> Option<usize> {
    if depth >= MAX_DEPTH {
        return None;
    }
    // SAFETY (for the whole body): `l` is valid, and room for the four
    // slots a level uses (a table, a nested table, a key, a value) is
    // checked here; every push follows the module doc's no-raise rules
    // (`rawset` keys are strings, numbers, booleans or tables: never nil,
    // and a number key comes from an integer, never NaN).
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            return None;
        }
        let kind = *buf.first()?;
        let end = line_end(buf, 1)?;
        let line = &buf[1..end];
        let next = end + 2;
        let int = |l: &[u8]| -> i64 { kevy_store::num::parse_i64(l).unwrap_or(0) };
        Some(match kind {
            b'+' => {
                ffi::lua_createtable(l, 0, 1);
                push_str(l, line);
                set_field(l, b"ok");
                next
            }
            b'-' => {
                push_error_table(l, &super::convert::error_text(line));
                next
            }
            b':' => {
                ffi::lua_pushnumber(l, int(line) as f64);
                next
            }
            b'$' => {
                let n = int(line);
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    next
                } else {
                    let n = n as usize;
                    let s = buf.get(next..next.checked_add(n)?)?;
                    push_str(l, s);
                    next + n + 2
                }
            }
            b'*' | b'>' | b'~' | b'%' => {
                let n = int(line);
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return Some(next);
                }
                let n = n as usize;
                let mut at = next;
                let hint = if kind == b'%' {
                    0
                } else {
                    n.min(1 << 24) as c_int
                };
                ffi::lua_createtable(l, hint, 0);
                match kind {
                    b'%' | b'~' => {
                        ffi::lua_createtable(l, 0, 0);
                        for _ in 0..n {
                            at += push_reply(l, buf.get(at..)?, depth + 1)?;
                            if kind == b'%' {
                                at += push_reply(l, buf.get(at..)?, depth + 1)?;
                            } else {
                                ffi::lua_pushboolean(l, 1);
                            }
                            if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                                ffi::lua_settop(l, -3);
                            } else {
                                ffi::lua_rawset(l, -3);
                            }
                        }
                        set_field(l, if kind == b'%' { b"map" } else { b"set" });
                    }
                    _ => {
                        for i in 1..=n {
                            at += push_reply(l, buf.get(at..)?, depth + 1)?;
                            ffi::lua_rawseti_(l, -2, i as c_int);
                        }
                    }
                }
                at
            }
            b'_' => {
                ffi::lua_pushnil(l);
                next
            }
            b'#' => {
                ffi::lua_pushboolean(l, (line == b"t") as c_int);
                next
            }
            b',' => {
                let d = std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0);
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_pushnumber(l, d);
                set_field(l, b"double");
                next
            }
            b'(' => {
                ffi::lua_createtable(l, 0, 1);
                push_str(l, line);
                set_field(l, b"big_number");
                next
            }
            b'=' => {
                let n = int(line).max(0) as usize;
                let s = buf.get(next..next.checked_add(n)?)?;
                let (format, text) = if s.len() >= 4 {
                    (&s[..3], &s[4..])
                } else {
                    (s, &b""[..])
                };
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_createtable(l, 0, 2);
                push_str(l, format);
                set_field(l, b"format");
                push_str(l, text);
                set_field(l, b"string");
                set_field(l, b"verbatim_string");
                next + n + 2
            }
            _ => return None,
        })
    }
}

/// Where the line starting at `from` ends (its CR).
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(p) = buf.get(at..)?.iter().position(|&b| b == b'\r') {
        if buf.get(at + p + 1) == Some(&b'\n') {
            return Some(at + p);
        }
        at += p + 1;
    }
    None
}
