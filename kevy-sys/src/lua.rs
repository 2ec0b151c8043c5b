//! Functions that Lua calls, on Lua's C API: a safe handle on the stack of
//! one call ([`Stack`]) and C functions that run a Rust [`Hook`] with it.
//!
//! Through mlua's safe API every argument and every value returned is a
//! handle (a slot in mlua's reference thread, taken and given back), and
//! the arguments arrive as a heap-allocated list. A hook here reads its
//! arguments straight off the call's stack and pushes its results straight
//! onto it: what a hook reads and pushes (Redis's conversions) is decided by
//! its caller, in safe code; this module only keeps the stack sound.
//!
//! # Stack discipline
//!
//! A call enters with its arguments at stack indices `1..=n` and
//! `LUA_MINSTACK` free slots above them (Lua's guarantee to a C function).
//! [`Stack`] knows the top itself and never lets a hook touch the
//! arguments: reads do not convert a value in place (`lua_tolstring` only
//! of a string, `lua_tonumber` only of a number), pops stop at the
//! arguments, and a push past the room reserved (`LUA_MINSTACK`, or what
//! [`Stack::reserve`] obtained) panics instead of writing past the stack.
//! Each table operation checks that the slot it writes is a table pushed by
//! the hook, and a raw set skips a nil or NaN key (which would raise). Lua
//! code that a hook runs through mlua leaves the stack below it as it was
//! (mlua's stack guards), so what [`Stack`] knows stays true.
//!
//! # Nothing raises between entry and return
//!
//! `lua_error` is a `longjmp`: it must not skip a Rust frame that still
//! owns something. So between entry and return the only calls that push or
//! allocate are `lua_pushlstring`, `lua_pushnumber`, `lua_pushboolean`,
//! `lua_pushnil`, `lua_createtable`, `lua_rawset`, `lua_rawseti` and
//! `lua_checkstack`, and none of them raises here: keys are never nil or
//! NaN (checked), tables are raw-set, and allocation does not fail inside
//! Lua, because mlua's allocator aborts when the process allocator fails
//! (it returns an error to Lua only past a memory limit, and the state must
//! have none). A garbage-collection step they trigger may run finalizers:
//! the state must have no finalizer that raises (Lua 5.1 scripts make one
//! only through `newproxy`, which the state must not offer; mlua's own do
//! not raise). These two are the contract of a state that gets these
//! functions; they are properties of how the state is built, which this
//! module cannot check.
//!
//! The C function raises or calls back into Lua only after the hook has
//! returned and everything it owned is dropped ([`Done`]). A panic in a
//! hook is caught before it reaches Lua's C frames, the call raises an
//! error instead ([`Hook::panicked`]), and the payload waits in
//! [`take_panic`] for the caller of the Lua code to resume it.

use mlua::{ffi, Function, Lua};
use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// The panic caught in a hook since the last call, to resume once the Lua
/// code that made the call is over.
pub fn take_panic() -> Option<Box<dyn Any + Send>> {
    PANIC.with(|p| p.borrow_mut().take())
}

/// A Rust function that Lua calls as a C function ([`function`],
/// [`closure`]). Static dispatch: each hook gets its own C function, with
/// no indirect call and no state but the stack and its upvalue.
pub trait Hook {
    /// The call: read the arguments, push results, say what to do next.
    fn call(stack: &mut Stack) -> Done;

    /// Pushes the value raised when [`Hook::call`] panicked (the stack is
    /// back at the arguments). A panic here raises nil.
    fn panicked(stack: &mut Stack) {
        stack.push_bytes(b"internal error");
    }
}

/// What the C function does once its hook has returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// Return the values the hook pushed.
    Return,
    /// Raise the value on top (nil when the hook pushed nothing).
    Raise,
    /// Drop what the hook pushed and call the function's upvalue with no
    /// arguments ([`closure`]), returning what it returns. Made for a
    /// function that raises an error built with mlua's safe API.
    CallUpvalue,
}

/// One value of a call's arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg<'s> {
    /// A string: its bytes, valid while the call lasts.
    Str(&'s [u8]),
    Number(f64),
    /// Any other type, or no such argument.
    Other,
}

/// A height of the stack, to pop back to ([`Stack::mark`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark(c_int);

/// The stack of one call of a C function made here: its arguments at
/// `1..=len()`, below whatever the hook pushes. Only the C function makes
/// one, for the duration of the call.
pub struct Stack {
    l: *mut ffi::lua_State,
    args: c_int,
    /// The top, as `lua_gettop` would say.
    top: c_int,
    /// The top up to which pushes have room.
    room: c_int,
    /// The height of the newest table [`Stack::new_table`] pushed, while
    /// it is still on the stack (0 otherwise: 0 is never a pushed slot).
    /// A table write to it needs no `lua_type`, which keeps flat arrays
    /// (KEYS, ARGV, most replies) and error tables at one compare.
    table: c_int,
}

impl Stack {
    /// How many arguments the call has.
    #[inline]
    pub fn len(&self) -> usize {
        self.args as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.args == 0
    }

    /// Argument `i` (from 1).
    #[inline]
    pub fn arg(&self, i: usize) -> Arg<'_> {
        let i = match c_int::try_from(i) {
            Ok(i) if (1..=self.args).contains(&i) => i,
            _ => return Arg::Other,
        };
        // SAFETY: `i` is one of the call's arguments, a valid index.
        match unsafe { ffi::lua_type(self.l, i) } {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                // SAFETY: the value at `i` is a string, so `lua_tolstring`
                // neither converts it nor allocates, and returns its
                // `len` bytes. They live as long as the value is on the
                // stack: arguments stay there for the whole call (no
                // method pops below them), and the borrow of `self` ends
                // with the call.
                let bytes = unsafe {
                    let p = ffi::lua_tolstring(self.l, i, &mut len);
                    std::slice::from_raw_parts(p as *const u8, len)
                };
                Arg::Str(bytes)
            }
            // SAFETY: a valid index holding a number: no conversion.
            ffi::LUA_TNUMBER => Arg::Number(unsafe { ffi::lua_tonumber(self.l, i) }),
            _ => Arg::Other,
        }
    }

    /// How many values the hook has pushed (and not popped).
    #[inline]
    pub fn pushed(&self) -> usize {
        (self.top - self.args) as usize
    }

    /// Makes sure `n` more values can be pushed; false when Lua cannot
    /// grow the stack that far (its limit on a C function's stack).
    #[inline]
    pub fn reserve(&mut self, n: usize) -> bool {
        let Ok(n) = c_int::try_from(n) else {
            return false;
        };
        if self.room - self.top >= n {
            return true;
        }
        // SAFETY: a valid state; `lua_checkstack` only grows the stack
        // (mlua's allocator aborts rather than fail, module doc).
        if unsafe { ffi::lua_checkstack(self.l, n) } == 0 {
            return false;
        }
        self.room = self.top + n;
        true
    }

    /// The room for one push: panics past the reserved room.
    #[inline]
    fn grow(&mut self) {
        assert!(
            self.top < self.room,
            "Lua stack: push past the reserved room"
        );
        self.top += 1;
    }

    #[inline]
    pub fn push_bytes(&mut self, s: &[u8]) {
        self.grow();
        // SAFETY: a slot of room (`grow`); `s` is valid for `s.len()`
        // bytes, which Lua copies; the push does not raise (module doc).
        unsafe { ffi::lua_pushlstring_(self.l, s.as_ptr() as *const _, s.len()) }
    }

    #[inline]
    pub fn push_number(&mut self, n: f64) {
        self.grow();
        // SAFETY: a slot of room; no allocation.
        unsafe { ffi::lua_pushnumber(self.l, n) }
    }

    #[inline]
    pub fn push_bool(&mut self, b: bool) {
        self.grow();
        // SAFETY: a slot of room; no allocation.
        unsafe { ffi::lua_pushboolean(self.l, b as c_int) }
    }

    #[inline]
    pub fn push_nil(&mut self) {
        self.grow();
        // SAFETY: a slot of room; no allocation.
        unsafe { ffi::lua_pushnil(self.l) }
    }

    /// Pushes a new table with room for `narr` array items and `nrec`
    /// other fields (hints, capped).
    #[inline]
    pub fn new_table(&mut self, narr: usize, nrec: usize) {
        const CAP: usize = 1 << 24;
        self.grow();
        self.table = self.top;
        // SAFETY: a slot of room; the allocation does not raise (module
        // doc); the hints are within `c_int`.
        unsafe { ffi::lua_createtable(self.l, narr.min(CAP) as c_int, nrec.min(CAP) as c_int) }
    }

    /// Whether the value `depth` slots below the top (0: the top) was
    /// pushed by the hook and is a table.
    #[inline]
    fn pushed_table(&self, depth: c_int) -> bool {
        let at = self.top - depth;
        at > self.args
            && (at == self.table
                // SAFETY: a slot between the arguments and the top: valid.
                || unsafe { ffi::lua_type(self.l, -1 - depth) } == ffi::LUA_TTABLE)
    }

    /// The top went down to `top`: the newest table may be gone.
    #[inline]
    fn popped_to(&mut self, top: c_int) {
        self.top = top;
        if self.table > top {
            self.table = 0;
        }
    }

    /// `t[n] = v` for `v` on top and the table `t` below it; pops `v`.
    /// Panics unless both were pushed by the hook and `t` is a table.
    #[inline]
    pub fn raw_seti(&mut self, n: usize) {
        let n = c_int::try_from(n).expect("Lua array index out of range");
        assert!(self.pushed_table(1), "Lua stack: raw_seti needs a table");
        // SAFETY: a table at -2 and a value above it; `lua_rawseti` takes
        // no metamethod and does not raise for an integer key.
        unsafe { ffi::lua_rawseti_(self.l, -2, n) };
        self.popped_to(self.top - 1);
    }

    /// `t[k] = v` for `t`, `k`, `v` pushed in that order; pops `k` and
    /// `v`. A nil or NaN key (which Lua would raise for) sets nothing:
    /// false. Panics unless the three were pushed by the hook and `t` is
    /// a table.
    #[inline]
    pub fn raw_set(&mut self) -> bool {
        assert!(self.pushed_table(2), "Lua stack: raw_set needs a table");
        // SAFETY: `-2` is a slot the hook pushed (above `-3`).
        let usable = match unsafe { ffi::lua_type(self.l, -2) } {
            ffi::LUA_TNIL => false,
            // SAFETY: a number at -2: no conversion.
            ffi::LUA_TNUMBER => !unsafe { ffi::lua_tonumber(self.l, -2) }.is_nan(),
            _ => true,
        };
        // SAFETY: a table at -3 with a key and a value above it; the key
        // is neither nil nor NaN, so `lua_rawset` does not raise; the
        // other branch pops two slots the hook pushed.
        unsafe {
            if usable {
                ffi::lua_rawset(self.l, -3);
            } else {
                ffi::lua_settop(self.l, -3);
            }
        }
        self.popped_to(self.top - 2);
        usable
    }

    /// `t[name] = v` for `v` on top and the table `t` below it; pops `v`.
    /// Panics unless both were pushed by the hook and `t` is a table.
    #[inline]
    pub fn set_field(&mut self, name: &[u8]) {
        assert!(self.pushed_table(1), "Lua stack: set_field needs a table");
        self.push_bytes(name);
        // SAFETY: the stack is `t, v, name`: `lua_insert` makes it
        // `t, name, v` and `lua_rawset` pops the pair with a string key,
        // which does not raise.
        unsafe {
            ffi::lua_insert(self.l, -2);
            ffi::lua_rawset(self.l, -3);
        }
        self.popped_to(self.top - 2);
    }

    /// The current height, to pop back to.
    #[inline]
    pub fn mark(&self) -> Mark {
        Mark(self.top)
    }

    /// Pops what was pushed since `mark` (nothing below the arguments,
    /// nothing when `mark` is above the top).
    #[inline]
    pub fn pop_to(&mut self, mark: Mark) {
        let to = mark.0.clamp(self.args, self.top);
        if to < self.top {
            // SAFETY: `to` is between the arguments and the top.
            unsafe { ffi::lua_settop(self.l, to) };
            self.popped_to(to);
        }
    }
}

/// A C function that runs `H`.
pub fn function<H: Hook>(lua: &Lua) -> mlua::Result<Function> {
    // SAFETY: `exec_raw` runs the closure in protected mode;
    // `lua_pushcclosure` with no upvalue pushes the function, the result.
    // `trampoline` follows the C function protocol (module doc).
    unsafe {
        lua.exec_raw::<Function>((), |l| {
            ffi::lua_pushcclosure(l, trampoline::<H>, 0);
        })
    }
}

/// A C function that runs `H`, with `upvalue` for [`Done::CallUpvalue`].
pub fn closure<H: Hook>(lua: &Lua, upvalue: Function) -> mlua::Result<Function> {
    // SAFETY: `exec_raw` runs the closure in protected mode with the
    // argument (`upvalue`) on the stack; `lua_pushcclosure` pops it as the
    // closure's one upvalue and pushes the closure, the result.
    unsafe {
        lua.exec_raw::<Function>(upvalue, |l| {
            ffi::lua_pushcclosure(l, trampoline::<H>, 1);
        })
    }
}

/// The C function of hook `H`.
///
/// # Safety
/// Called by Lua only, as a C function: `l` is the state of the call in
/// progress, with the call's arguments on its stack and `LUA_MINSTACK`
/// free slots above them.
unsafe extern "C-unwind" fn trampoline<H: Hook>(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this as a C function: `l` is the state of the
    // call, with its arguments on the stack.
    let args = unsafe { ffi::lua_gettop(l) };
    let mut stack = Stack {
        l,
        args,
        top: args,
        room: args + ffi::LUA_MINSTACK,
        table: 0,
    };
    let done = match catch_unwind(AssertUnwindSafe(|| H::call(&mut stack))) {
        Ok(done) => done,
        Err(payload) => {
            PANIC.with(|p| *p.borrow_mut() = Some(payload));
            stack.pop_to(Mark(args));
            if let Err(again) = catch_unwind(AssertUnwindSafe(|| H::panicked(&mut stack))) {
                // Dropping it could panic once more, here, over C frames.
                std::mem::forget(again);
                stack.pop_to(Mark(args));
            }
            Done::Raise
        }
    };
    let (pushed, top) = (stack.top - args, stack.top);
    debug_assert_eq!(
        // SAFETY: a valid state.
        unsafe { ffi::lua_gettop(l) },
        top,
        "a hook left the stack as Stack did not know it"
    );
    // Nothing with a destructor lives past this point (`stack` and `done`
    // are plain data), so the jumps below skip nothing.
    match done {
        Done::Return => pushed,
        Done::Raise => {
            // SAFETY: a value to raise is on top, or nil is pushed in the
            // room left by a hook that pushed nothing.
            unsafe {
                if pushed == 0 {
                    ffi::lua_pushnil(l);
                }
                ffi::lua_error(l)
            }
        }
        Done::CallUpvalue => {
            // SAFETY: back to the arguments, then one push (room: the
            // call's LUA_MINSTACK). The upvalue index of a function
            // without one reads nil, and calling nil raises: raising is
            // fine here.
            unsafe {
                ffi::lua_settop(l, args);
                ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
                ffi::lua_call(l, 0, ffi::LUA_MULTRET);
                ffi::lua_gettop(l) - args
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::{MultiValue, Value};

    fn eval(lua: &Lua, code: &str) -> Vec<Value> {
        lua.load(code).eval::<MultiValue>().unwrap().into_vec()
    }

    fn take_message() -> String {
        let payload = take_panic().expect("a panic was caught");
        match payload.downcast::<&str>() {
            Ok(s) => s.to_string(),
            Err(p) => *p.downcast::<String>().expect("a text payload"),
        }
    }

    /// Returns its arguments: strings and numbers as they are, anything
    /// else as false.
    struct Echo;
    impl Hook for Echo {
        fn call(s: &mut Stack) -> Done {
            assert!(s.reserve(s.len()));
            for i in 1..=s.len() {
                match s.arg(i) {
                    Arg::Str(b) => {
                        let b = b.to_vec();
                        s.push_bytes(&b);
                    }
                    Arg::Number(n) => s.push_number(n),
                    Arg::Other => s.push_bool(false),
                }
            }
            assert_eq!(s.arg(0), Arg::Other);
            assert_eq!(s.arg(s.len() + 1), Arg::Other);
            Done::Return
        }
    }

    #[test]
    fn arguments_read_and_pushed_back_round_trip() {
        let lua = Lua::new();
        lua.globals()
            .set("echo", function::<Echo>(&lua).unwrap())
            .unwrap();
        let got = eval(&lua, "return echo('a\\0b', 1.5, -7, {}, nil, true, '')");
        let strs: Vec<String> = got
            .iter()
            .map(|v| match v {
                Value::String(s) => format!("s:{:?}", s.as_bytes().to_vec()),
                Value::Number(n) => format!("n:{n}"),
                Value::Integer(n) => format!("n:{n}"),
                Value::Boolean(b) => format!("b:{b}"),
                other => format!("?{other:?}"),
            })
            .collect();
        assert_eq!(
            strs,
            [
                "s:[97, 0, 98]",
                "n:1.5",
                "n:-7",
                "b:false",
                "b:false",
                "b:false",
                "s:[]"
            ]
        );
        assert_eq!(
            eval(&lua, "return select('#', echo())")[0],
            Value::Integer(0)
        );
    }

    /// Builds `{10, 20, name = "x", [true] = 1, inner = {"y"}}`, trying a
    /// nil and a NaN key on the way.
    struct Tables;
    impl Hook for Tables {
        fn call(s: &mut Stack) -> Done {
            s.new_table(2, 3);
            s.push_number(10.0);
            s.raw_seti(1);
            s.push_number(20.0);
            s.raw_seti(2);
            s.push_bytes(b"x");
            s.set_field(b"name");
            s.push_bool(true);
            s.push_number(1.0);
            assert!(s.raw_set());
            s.push_nil();
            s.push_number(2.0);
            assert!(!s.raw_set());
            s.push_number(f64::NAN);
            s.push_number(3.0);
            assert!(!s.raw_set());
            s.new_table(1, 0);
            s.push_bytes(b"y");
            s.raw_seti(1);
            s.set_field(b"inner");
            assert_eq!(s.pushed(), 1);
            Done::Return
        }
    }

    #[test]
    fn tables_are_built_and_bad_keys_skipped() {
        let lua = Lua::new();
        lua.globals()
            .set("tables", function::<Tables>(&lua).unwrap())
            .unwrap();
        let got = eval(
            &lua,
            "local t = tables()
             local n = 0
             for _ in pairs(t) do n = n + 1 end
             return t[1], t[2], t.name, t[true], t.inner[1], #t.inner, n",
        );
        assert_eq!(
            got,
            [
                Value::Integer(10),
                Value::Integer(20),
                Value::String(lua.create_string("x").unwrap()),
                Value::Integer(1),
                Value::String(lua.create_string("y").unwrap()),
                Value::Integer(1),
                Value::Integer(5),
            ]
        );
    }

    struct Raise;
    impl Hook for Raise {
        fn call(s: &mut Stack) -> Done {
            s.push_bytes(b"first");
            s.push_bytes(b"boom");
            Done::Raise
        }
    }

    struct RaiseNothing;
    impl Hook for RaiseNothing {
        fn call(_: &mut Stack) -> Done {
            Done::Raise
        }
    }

    #[test]
    fn a_raised_error_is_caught_by_pcall() {
        let lua = Lua::new();
        let g = lua.globals();
        g.set("raise", function::<Raise>(&lua).unwrap()).unwrap();
        g.set("raise_nil", function::<RaiseNothing>(&lua).unwrap())
            .unwrap();
        let got = eval(&lua, "return pcall(raise, 1, 2)");
        assert_eq!(got[0], Value::Boolean(false));
        assert_eq!(got[1], Value::String(lua.create_string("boom").unwrap()));
        let got = eval(&lua, "return pcall(raise_nil)");
        assert_eq!(got, [Value::Boolean(false), Value::Nil]);
        // Raised from Rust's side of the call, the error reaches mlua.
        let err = lua.load("raise()").exec().unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert!(take_panic().is_none());
    }

    struct Panics;
    impl Hook for Panics {
        fn call(s: &mut Stack) -> Done {
            s.push_number(1.0);
            panic!("hook bug");
        }
        fn panicked(s: &mut Stack) {
            assert_eq!(s.pushed(), 0);
            s.push_bytes(b"internal error in hook");
        }
    }

    struct PanicsTwice;
    impl Hook for PanicsTwice {
        fn call(_: &mut Stack) -> Done {
            panic!("first");
        }
        fn panicked(_: &mut Stack) {
            panic!("second");
        }
    }

    #[test]
    fn a_panic_in_a_hook_raises_and_is_kept_for_after_the_call() {
        let lua = Lua::new();
        let g = lua.globals();
        g.set("panics", function::<Panics>(&lua).unwrap()).unwrap();
        g.set("twice", function::<PanicsTwice>(&lua).unwrap())
            .unwrap();
        let got = eval(&lua, "return pcall(panics)");
        assert_eq!(got[0], Value::Boolean(false));
        assert_eq!(
            got[1],
            Value::String(lua.create_string("internal error in hook").unwrap())
        );
        assert_eq!(take_message(), "hook bug");
        assert!(take_panic().is_none());
        let got = eval(&lua, "return pcall(twice)");
        assert_eq!(got, [Value::Boolean(false), Value::Nil]);
        assert_eq!(take_message(), "first");
    }

    /// Pushes `n` values (its argument) after reserving room for them, or
    /// without (no second argument `'reserve'`).
    struct PushMany;
    impl Hook for PushMany {
        fn call(s: &mut Stack) -> Done {
            let Arg::Number(n) = s.arg(1) else {
                return Done::Return;
            };
            let reserve = s.arg(2) == Arg::Str(b"reserve");
            if reserve {
                assert!(s.reserve(n as usize + 1));
            }
            for i in 0..n as usize {
                s.push_number(i as f64);
            }
            // Popping back drops only what was pushed since the mark.
            let mark = s.mark();
            s.push_nil();
            s.pop_to(mark);
            s.pop_to(Mark(c_int::MAX));
            assert_eq!(s.pushed(), n as usize);
            Done::Return
        }
    }

    #[test]
    fn reserve_makes_room_and_pushes_past_the_room_panic() {
        let lua = Lua::new();
        lua.globals()
            .set("many", function::<PushMany>(&lua).unwrap())
            .unwrap();
        let got = eval(&lua, "return select('#', many(5000, 'reserve'))");
        assert_eq!(got, [Value::Integer(5000)]);
        let got = eval(&lua, "return select('#', many(19))");
        assert_eq!(got, [Value::Integer(19)]);
        // Room for LUA_MINSTACK (20) and no more: the twenty-first push
        // panics, and the call raises.
        let got = eval(&lua, "return pcall(many, 21)");
        assert_eq!(got[0], Value::Boolean(false));
        assert!(take_message().contains("past the reserved room"));
        // Lua grows a C function's stack only so far.
        let got = eval(&lua, "return pcall(many, 100000, 'reserve')");
        assert_eq!(got[0], Value::Boolean(false));
        assert!(take_message().contains("assertion failed"));
    }

    struct NotATable;
    impl Hook for NotATable {
        fn call(s: &mut Stack) -> Done {
            s.push_number(1.0);
            s.push_number(2.0);
            s.raw_seti(1);
            Done::Return
        }
    }

    struct ArgIsNotPushed;
    impl Hook for ArgIsNotPushed {
        fn call(s: &mut Stack) -> Done {
            // The argument is a table, but not one the hook pushed.
            s.push_number(2.0);
            s.set_field(b"x");
            Done::Return
        }
    }

    /// Pops a table and pushes a number where it was, then writes to
    /// "the table" (the number).
    struct TableGone;
    impl Hook for TableGone {
        fn call(s: &mut Stack) -> Done {
            s.push_bool(true);
            let mark = s.mark();
            s.new_table(0, 0);
            s.pop_to(mark);
            s.push_number(1.0);
            s.push_number(2.0);
            s.raw_seti(1);
            Done::Return
        }
    }

    /// Sets a new table into an older one, then writes to the slot the
    /// new table had.
    struct NestedGone;
    impl Hook for NestedGone {
        fn call(s: &mut Stack) -> Done {
            s.new_table(1, 0);
            s.new_table(0, 0);
            s.raw_seti(1);
            // The outer table is on top; push a number where the inner
            // table was and write "into" it.
            s.push_number(5.0);
            s.push_number(6.0);
            s.raw_seti(1);
            Done::Return
        }
    }

    #[test]
    fn a_table_popped_is_never_written_to() {
        let lua = Lua::new();
        let g = lua.globals();
        g.set("gone", function::<TableGone>(&lua).unwrap()).unwrap();
        g.set("nested", function::<NestedGone>(&lua).unwrap())
            .unwrap();
        assert_eq!(eval(&lua, "return pcall(gone)")[0], Value::Boolean(false));
        assert!(take_message().contains("raw_seti needs a table"));
        assert_eq!(eval(&lua, "return pcall(nested)")[0], Value::Boolean(false));
        assert!(take_message().contains("raw_seti needs a table"));
    }

    #[test]
    fn table_writes_check_their_table() {
        let lua = Lua::new();
        let g = lua.globals();
        g.set("not_table", function::<NotATable>(&lua).unwrap())
            .unwrap();
        g.set("arg_table", function::<ArgIsNotPushed>(&lua).unwrap())
            .unwrap();
        assert_eq!(
            eval(&lua, "return pcall(not_table)")[0],
            Value::Boolean(false)
        );
        assert!(take_message().contains("raw_seti needs a table"));
        let got = eval(
            &lua,
            "local t = {} local ok = pcall(arg_table, t) return ok, t.x",
        );
        assert_eq!(got, [Value::Boolean(false), Value::Nil]);
        assert!(take_message().contains("set_field needs a table"));
    }

    /// Pushes junk, then hands over to its upvalue.
    struct Handover;
    impl Hook for Handover {
        fn call(s: &mut Stack) -> Done {
            s.push_bytes(b"junk");
            Done::CallUpvalue
        }
    }

    #[test]
    fn call_upvalue_returns_or_raises_what_the_upvalue_does() {
        let lua = Lua::new();
        let g = lua.globals();
        let seven = lua.create_function(|_, ()| Ok((7, 8))).unwrap();
        let fails = lua
            .create_function(|_, ()| -> mlua::Result<()> { Err(mlua::Error::runtime("stopped")) })
            .unwrap();
        g.set("seven", closure::<Handover>(&lua, seven).unwrap())
            .unwrap();
        g.set("fails", closure::<Handover>(&lua, fails).unwrap())
            .unwrap();
        g.set("none", function::<Handover>(&lua).unwrap()).unwrap();
        assert_eq!(
            eval(&lua, "return seven(1, 2, 3)"),
            [Value::Integer(7), Value::Integer(8)]
        );
        let got = eval(&lua, "local ok, e = pcall(fails) return ok, tostring(e)");
        assert_eq!(got[0], Value::Boolean(false));
        assert!(format!("{:?}", got[1]).contains("stopped"));
        // No upvalue: calling nil raises.
        assert_eq!(eval(&lua, "return pcall(none)")[0], Value::Boolean(false));
        assert!(take_panic().is_none());
    }

    /// The height of the stack mlua runs code on, as `exec_raw` sees it.
    fn main_top(lua: &Lua) -> i64 {
        // SAFETY: `exec_raw` runs the closure in protected mode with room
        // for a push; `lua_gettop` reads, `lua_pushinteger` pushes the
        // result.
        unsafe {
            lua.exec_raw::<i64>((), |l| {
                let top = ffi::lua_gettop(l);
                ffi::lua_pushinteger(l, top as ffi::lua_Integer);
            })
        }
        .unwrap()
    }

    #[test]
    fn many_calls_leave_the_stack_as_they_found_it() {
        let lua = Lua::new();
        let g = lua.globals();
        g.set("echo", function::<Echo>(&lua).unwrap()).unwrap();
        g.set("raise", function::<Raise>(&lua).unwrap()).unwrap();
        g.set("tables", function::<Tables>(&lua).unwrap()).unwrap();
        g.set("panics", function::<Panics>(&lua).unwrap()).unwrap();
        let before = main_top(&lua);
        let got = eval(
            &lua,
            "local n = 0
             for i = 1, 20000 do
                 local a, b = echo('k', i)
                 if b == i then n = n + 1 end
                 if not pcall(raise) then n = n + 1 end
                 if tables()[2] == 20 then n = n + 1 end
             end
             return n",
        );
        assert_eq!(got, [Value::Integer(60000)]);
        for _ in 0..1000 {
            let _ = lua.load("pcall(panics)").exec();
            assert!(take_panic().is_some());
        }
        assert_eq!(main_top(&lua), before);
    }
}
