//! `redis.call`, `redis.pcall` and a run's KEYS and ARGV as functions on
//! Lua's C API (kevy-sys's [`kevy_sys::lua`]): the arguments are read
//! straight off the call's stack into the run's argument buffer, and the
//! reply is pushed straight onto it (`convert.rs`), with no mlua handle
//! or argument list in between, which for a short script cost more than
//! its commands.
//!
//! The engine's state keeps `kevy_sys::lua`'s contract: mlua's allocator
//! with no memory limit, and no finalizer a script can set (the prelude
//! removes `newproxy`), so no push raises.
//!
//! A run that stops at a `redis.call` (a key it cannot reach, a kill)
//! leaves the stack as it found it and hands over to the closure's
//! upvalue, an mlua function that records the stop and raises. A panic in
//! a command raises `ERR internal error in redis.call` and is resumed by
//! the run once the script is over (engine.rs).

use kevy_sys::lua::{self, Done, Hook, Stack};
use mlua::{Function, Lua};

/// `redis.call`: an error reply raises.
struct Call;
/// `redis.pcall`: an error reply is returned as an error table.
struct PCall;
/// The run's KEYS and ARGV.
struct ScriptArgs;

impl Hook for Call {
    fn call(stack: &mut Stack) -> Done {
        super::engine::redis_call(stack, true)
    }
    fn panicked(stack: &mut Stack) {
        push_error(stack, b"ERR internal error in redis.call");
    }
}

impl Hook for PCall {
    fn call(stack: &mut Stack) -> Done {
        super::engine::redis_call(stack, false)
    }
    fn panicked(stack: &mut Stack) {
        push_error(stack, b"ERR internal error in redis.call");
    }
}

impl Hook for ScriptArgs {
    /// Two fresh arrays (KEYS and ARGV, or a function's two tables), as
    /// Redis makes them for every run.
    fn call(stack: &mut Stack) -> Done {
        super::engine::script_args(|keys, argv| {
            for items in [keys, argv] {
                stack.new_table(items.len(), 0);
                for (i, item) in items.iter().enumerate() {
                    stack.push_bytes(item);
                    stack.raw_seti(i + 1);
                }
            }
        });
        Done::Return
    }
}

/// `redis.call` and `redis.pcall`, whose stop function is `stop`.
pub(super) fn functions(lua: &Lua, stop: Function) -> mlua::Result<(Function, Function)> {
    Ok((
        lua::closure::<Call>(lua, stop.clone())?,
        lua::closure::<PCall>(lua, stop)?,
    ))
}

/// The function the prelude's runners call for the run's keys and
/// arguments.
pub(super) fn args_function(lua: &Lua) -> mlua::Result<Function> {
    lua::function::<ScriptArgs>(lua)
}

/// Pushes the error table `{err = text}` (Redis's `luaPushError`).
pub(super) fn push_error(stack: &mut Stack, text: &[u8]) {
    stack.new_table(0, 1);
    stack.push_bytes(text);
    stack.set_field(b"err");
}
