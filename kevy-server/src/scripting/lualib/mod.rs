//! The C libraries Redis links into its Lua 5.1 — `cjson`, `cmsgpack`, `bit`
//! and `struct` — written in Rust with the same results, the same error
//! messages and the same limits as Redis 7.0's scripts see.
//!
//! Each library function is a Rust callback behind a small Lua wrapper.
//! The wrapper exists because an mlua callback can only raise a userdata
//! error, while Redis's C functions raise plain strings that scripts match
//! with `pcall`: the callback returns `false, message` and the wrapper raises
//! the message. The callback builds the message as `luaL_error` would,
//! prefixed with the position of the wrapper's caller (`user_script:1: `)
//! and naming the function as that caller did (`bad argument #1 to
//! 'decode'`). What it cannot see is a caller that tail-called the wrapper:
//! Lua 5.1 drops that caller's frame, so the message has no position and the
//! name is `?` (a difference the README lists).
//!
//! Limits that Redis gets from the Lua C stack (`LUAI_MAXCSTACK`, 8000
//! slots per C call) are counted here slot by slot, so deep nesting fails at
//! the same depth with the same message. Deep structures are walked with an
//! explicit stack whose tables live in a Lua table, not in Rust handles, so
//! neither the Rust stack nor mlua's reference stack grows with the depth.

mod bit;
mod cjson;
mod cmsgpack;
mod num;
mod structlib;

use mlua::{Function, Lua, MultiValue, Table, Value};

/// The chunk name of the wrappers. Their frames sit between a script and
/// the Rust callbacks; an error handler that reports the script's line (as
/// Redis's does with `debug.getinfo`) skips frames from this chunk.
pub const WRAPPER_CHUNK: &str = "=lualib";

/// Lua 5.1's `LUAI_MAXCSTACK`: `lua_checkstack` fails when a C function's
/// frame would hold more slots than this.
const MAX_C_STACK: usize = 8000;

/// Largest string `cjson.encode` and `cmsgpack.pack` build. Redis has no such
/// bound (its buffer aborts the process when allocation fails); a shared
/// subtable makes the output exponential in the nesting depth, so one is
/// needed here. It is Redis's default `proto-max-bulk-len`.
const MAX_OUTPUT: usize = 512 * 1024 * 1024;

/// Message for output past [`MAX_OUTPUT`], Lua's own out-of-memory text.
const OUT_OF_MEMORY: &str = "not enough memory";

/// Opens `cjson`, `cmsgpack`, `bit` and `struct` as globals of `lua`, which
/// must have the base library (the wrappers keep its `error`, `select` and
/// `unpack` from this moment on).
pub fn open_all(lua: &Lua) -> mlua::Result<()> {
    let wrap: Function = lua
        .load(WRAPPER)
        .set_name(WRAPPER_CHUNK)
        .call(MAX_DIRECT_ARGS)?;
    let globals = lua.globals();
    globals.raw_set("cjson", cjson::open(lua, &wrap)?)?;
    globals.raw_set("cmsgpack", cmsgpack::open(lua, &wrap)?)?;
    globals.raw_set("bit", bit::open(lua, &wrap)?)?;
    globals.raw_set("struct", structlib::open(lua, &wrap)?)?;
    Ok(())
}

/// Returns the function that wraps a callback. The wrapper passes the
/// argument count first, so the callback tells a missing argument from a
/// nil without collecting its arguments in a list; past [`MAX_DIRECT_ARGS`]
/// it passes them in a table instead, because mlua holds each string or
/// table argument in a slot of its reference stack, which has room for
/// fewer than the 7999 arguments Lua can pass.
///
/// A callback returns `true` and its results, `false` and an error message,
/// or a count `n` and a table holding `n` results: a callback cannot return
/// thousands of values past the C stack limit, a Lua function can, and
/// `spread` returns them sixteen at a time.
const WRAPPER: &str = "\
local max_direct = ...
local error, unpack, select = error, unpack, select
local function spread(t, i, n)
  if n - i < 16 then return unpack(t, i, n) end
  return t[i], t[i+1], t[i+2], t[i+3], t[i+4], t[i+5], t[i+6], t[i+7], t[i+8], t[i+9],
    t[i+10], t[i+11], t[i+12], t[i+13], t[i+14], t[i+15], spread(t, i + 16, n)
end
local function finish(status, ...)
  if status == true then return ... end
  if status == false then error((...), 0) end
  return spread((...), 1, status)
end
return function(raw)
  return function(...)
    local n = select('#', ...)
    if n <= max_direct then return finish(raw(n, ...)) end
    return finish(raw(n, {...}))
  end
end";

/// The most arguments the wrapper passes one by one.
const MAX_DIRECT_ARGS: usize = 64;

/// How a library function fails, mirroring the ways Redis's C code raises.
#[derive(Debug)]
pub(crate) enum Fail {
    /// `luaL_error`: the message gets the caller's position in front.
    Error(Vec<u8>),
    /// `luaL_argerror(L, n, msg)`: "bad argument #n to 'name' (msg)".
    Arg(i64, Vec<u8>),
    /// An error raised by Lua itself inside the C function (`rawset` with a
    /// nil key): no position.
    Plain(&'static str),
    /// A failure of the Lua state itself (out of memory); raised as mlua's
    /// error.
    Lua(mlua::Error),
}

impl Fail {
    pub(crate) fn error(msg: impl Into<Vec<u8>>) -> Fail {
        Fail::Error(msg.into())
    }

    pub(crate) fn arg(n: i64, msg: impl Into<Vec<u8>>) -> Fail {
        Fail::Arg(n, msg.into())
    }
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, Fail>;

/// What a library function returns.
pub(crate) enum Ret {
    One(Value),
    Many(Vec<Value>),
    /// Results stored at `1..=n` of a table.
    Table(Table, usize),
}

impl Ret {
    pub(crate) fn one(v: Value) -> Ret {
        Ret::One(v)
    }
}

/// What a callback receives: the count, up to three arguments, the rest
/// (or, past [`MAX_DIRECT_ARGS`], the count and a table of them all).
type RawArgs = (usize, Value, Value, Value, MultiValue);

/// What a callback hands the wrapper: a status, a value, and more values.
type RawRet = (Value, Value, MultiValue);

/// Creates the Lua function for `f`: the callback and its wrapper.
pub(crate) fn function<F>(lua: &Lua, wrap: &Function, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, &Args) -> LibResult<Ret> + 'static,
{
    let raw = lua.create_function(
        move |lua, (n, a, b, c, rest): RawArgs| -> mlua::Result<RawRet> {
            let args = if n > MAX_DIRECT_ARGS {
                match a {
                    Value::Table(t) => Args::Packed(t, n),
                    _ => Args::Direct(0, [Value::Nil, Value::Nil, Value::Nil], rest),
                }
            } else {
                Args::Direct(n, [a, b, c], rest)
            };
            Ok(match f(lua, &args) {
                Ok(Ret::One(v)) => (Value::Boolean(true), v, MultiValue::new()),
                Ok(Ret::Many(vals)) => {
                    let mut rest: MultiValue = vals.into_iter().collect();
                    let first = rest.pop_front().unwrap_or(Value::Nil);
                    (Value::Boolean(true), first, rest)
                }
                Ok(Ret::Table(t, n)) => {
                    (Value::Number(n as f64), Value::Table(t), MultiValue::new())
                }
                Err(Fail::Lua(e)) => return Err(e),
                Err(fail) => (
                    Value::Boolean(false),
                    Value::String(lua.create_string(render(lua, fail))?),
                    MultiValue::new(),
                ),
            })
        },
    )?;
    wrap.call(raw)
}

/// The text Redis's C code would raise for `fail`. Level 1 of the stack is
/// the wrapper, which stands where Redis's C function stands; level 2 is its
/// caller.
fn render(lua: &Lua, fail: Fail) -> Vec<u8> {
    let mut msg = caller_position(lua).into_bytes();
    match fail {
        Fail::Error(text) => msg.extend_from_slice(&text),
        Fail::Plain(text) => return text.as_bytes().to_vec(),
        Fail::Lua(e) => msg.extend_from_slice(e.to_string().as_bytes()),
        Fail::Arg(mut n, text) => {
            let (name, method) = lua
                .inspect_stack(1, |d| {
                    let names = d.names();
                    (
                        names.name.map(|s| s.into_owned()),
                        names.name_what == Some("method"),
                    )
                })
                .unwrap_or((None, false));
            let name = name.unwrap_or_else(|| "?".to_string());
            if method {
                n -= 1;
            }
            if method && n == 0 {
                msg.extend_from_slice(format!("calling '{name}' on bad self (").as_bytes());
            } else {
                msg.extend_from_slice(format!("bad argument #{n} to '{name}' (").as_bytes());
            }
            msg.extend_from_slice(&text);
            msg.push(b')');
        }
    }
    msg
}

/// `luaL_where(L, 1)` as seen from the wrapper: "chunk:line: " when the
/// caller is Lua code with line information, else nothing.
fn caller_position(lua: &Lua) -> String {
    lua.inspect_stack(2, |d| {
        let line = d.current_line().filter(|l| *l > 0)?;
        let src = d.source().short_src?.into_owned();
        Some(format!("{src}:{line}: "))
    })
    .flatten()
    .unwrap_or_default()
}

/// A C function's arguments, numbered from 1 as the C API numbers them.
pub(crate) enum Args {
    /// The count, the first three (nil past the count), the rest.
    Direct(usize, [Value; 3], MultiValue),
    /// The wrapper's table of many arguments, and their count.
    Packed(Table, usize),
}

impl Args {
    /// `lua_gettop`.
    pub(crate) fn len(&self) -> usize {
        match self {
            Args::Direct(n, ..) | Args::Packed(_, n) => *n,
        }
    }

    /// Argument `i` (from 1), `None` past the last ("no value").
    pub(crate) fn get(&self, i: usize) -> Option<Value> {
        if i == 0 || i > self.len() {
            return None;
        }
        match self {
            Args::Direct(_, first, _) if i <= 3 => Some(first[i - 1].clone()),
            Args::Direct(_, _, rest) => Some(rest.get(i - 4).cloned().unwrap_or(Value::Nil)),
            Args::Packed(t, _) => Some(t.raw_get(i).unwrap_or(Value::Nil)),
        }
    }

    /// Whether argument `i` is absent or nil (`lua_isnoneornil`).
    pub(crate) fn is_none_or_nil(&self, i: usize) -> bool {
        matches!(self.get(i), None | Some(Value::Nil))
    }

    /// `luaL_checknumber`.
    pub(crate) fn number(&self, lua: &Lua, i: usize) -> LibResult<f64> {
        check_number(lua, self.get(i).as_ref(), i)
    }

    /// `luaL_checkinteger`: the number truncated as C truncates it.
    pub(crate) fn integer(&self, lua: &Lua, i: usize) -> LibResult<i64> {
        self.number(lua, i).map(num::to_i64)
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, i: usize, default: i64) -> LibResult<i64> {
        if self.is_none_or_nil(i) {
            Ok(default)
        } else {
            self.integer(lua, i)
        }
    }

    /// `luaL_checklstring`: strings, and numbers as Lua prints them.
    pub(crate) fn bytes(&self, lua: &Lua, i: usize) -> LibResult<mlua::LuaString> {
        check_string(lua, self.get(i).as_ref(), i)
    }
}

/// `luaL_checknumber` on a value that sits at argument `i`.
pub(crate) fn check_number(lua: &Lua, v: Option<&Value>, i: usize) -> LibResult<f64> {
    match v {
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(v @ Value::String(_)) => match lua.coerce_number(v.clone())? {
            Some(n) => Ok(n),
            None => Err(type_error(i, "number", Some(v))),
        },
        other => Err(type_error(i, "number", other)),
    }
}

/// `luaL_checklstring` on a value that sits at argument `i`.
pub(crate) fn check_string(lua: &Lua, v: Option<&Value>, i: usize) -> LibResult<mlua::LuaString> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Integer(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(s),
            None => Err(type_error(i, "string", Some(v))),
        },
        other => Err(type_error(i, "string", other)),
    }
}

/// `luaL_typerror`: "number expected, got nil".
pub(crate) fn type_error(i: usize, expected: &str, got: Option<&Value>) -> Fail {
    Fail::arg(
        i as i64,
        format!(
            "{expected} expected, got {}",
            got.map_or("no value", type_name)
        ),
    )
}

/// `lua_typename` of a value.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// A Lua number's value, for either of mlua's number variants.
pub(crate) fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        _ => None,
    }
}

/// Visits the pairs of `t` in `next` order until `f` returns `Ok(false)`.
/// One protected Lua call covers the whole walk, where mlua's `pairs`
/// iterator makes one per pair.
pub(crate) fn each_pair(
    t: &Table,
    mut f: impl FnMut(Value, Value) -> LibResult<bool>,
) -> LibResult<()> {
    let mut failure = None;
    let mut stopped = false;
    let walked = t.for_each(|k: Value, v: Value| match f(k, v) {
        Ok(true) => Ok(()),
        Ok(false) => {
            stopped = true;
            Err(mlua::Error::RuntimeError(String::new()))
        }
        Err(e) => {
            failure = Some(e);
            Err(mlua::Error::RuntimeError(String::new()))
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    match walked {
        Err(_) if stopped => Ok(()),
        other => Ok(other?),
    }
}

/// `lua_checkstack(L, n)` for a C frame holding `top` slots: false when the
/// frame would pass [`MAX_C_STACK`].
pub(crate) fn stack_fits(top: usize, n: usize) -> bool {
    top + n <= MAX_C_STACK
}

/// `luaL_checkstack(L, n, what)` for a frame holding `top` slots.
pub(crate) fn check_stack(top: usize, n: usize, what: &str) -> LibResult<()> {
    if stack_fits(top, n) {
        Ok(())
    } else {
        Err(Fail::error(format!("stack overflow ({what})")))
    }
}

/// Sets the module's string fields.
pub(crate) fn set_fields(lua: &Lua, t: &Table, fields: &[(&str, &str)]) -> mlua::Result<()> {
    for (k, v) in fields {
        t.raw_set(*k, lua.create_string(v)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
