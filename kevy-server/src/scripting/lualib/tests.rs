//! Unit tests in a fresh Lua 5.1 state. The byte-for-byte comparison with
//! Redis is `tests/lualib.rs`; these check the plumbing without a server.

use super::open_all;
use mlua::Lua;

fn lua() -> Lua {
    let lua = Lua::new();
    open_all(&lua).unwrap();
    lua
}

/// Runs `code` as a chunk named as Redis names scripts.
fn eval<T: mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
    lua.load(code).set_name("@user_script").eval::<T>().unwrap()
}

#[test]
fn the_four_libraries_are_globals() {
    let lua = lua();
    let types: String = eval(
        &lua,
        "return type(cjson) .. type(cmsgpack) .. type(bit) .. type(struct) .. cjson._VERSION",
    );
    assert_eq!(types, "tabletabletabletable2.1.0");
}

#[test]
fn cjson_round_trip() {
    let lua = lua();
    let s: String = eval(&lua, "return cjson.encode({1, 2, {a = 1}})");
    assert_eq!(s, r#"[1,2,{"a":1}]"#);
    let s: String = eval(
        &lua,
        r#"return cjson.encode(cjson.decode('[1,"x",null,true,{}]'))"#,
    );
    assert_eq!(s, r#"[1,"x",null,true,{}]"#);
}

#[test]
fn errors_are_strings_with_the_callers_position() {
    let lua = lua();
    let (ok, err, kind): (bool, String, String) = eval(
        &lua,
        "local ok, e = pcall(function()\n local x = cjson.decode('{')\n return x end)\n\
         return ok, e, type(e)",
    );
    assert!(!ok);
    assert_eq!(kind, "string");
    assert_eq!(
        err,
        "user_script:2: Expected object key string but found T_END at character 2"
    );
    // Called straight from pcall, a C function has no Lua caller.
    let err: String = eval(&lua, "return select(2, pcall(struct.unpack, 'i', 'ab'))");
    assert_eq!(err, "bad argument #2 to '?' (data string too short)");
}

#[test]
fn argument_errors_name_the_function_as_the_caller_did() {
    let lua = lua();
    let err: String = eval(
        &lua,
        "local d = cjson.decode\nlocal ok, e = pcall(function() local x = d() return x end)\nreturn e",
    );
    assert_eq!(
        err,
        "user_script:2: bad argument #1 to 'd' (expected 1 argument)"
    );
    let err: String = eval(
        &lua,
        "local t = {f = bit.tobit}\nlocal ok, e = pcall(function() local x = t:f() return x end)\nreturn e",
    );
    assert_eq!(
        err,
        "user_script:2: calling 'f' on bad self (number expected, got table)"
    );
    let err: String = eval(
        &lua,
        "local t = {p = struct.pack}\nlocal ok, e = pcall(function() local x = t:p() return x end)\nreturn e",
    );
    assert_eq!(
        err,
        "user_script:2: calling 'p' on bad self (string expected, got table)"
    );
}

#[test]
fn thousands_of_results_and_arguments() {
    let lua = lua();
    let (n, sum): (usize, f64) = eval(
        &lua,
        "local r = {cmsgpack.unpack(string.rep('\\1\\2', 3999) .. '\\3')}\n\
         local s = 0 for i = 1, #r do s = s + r[i] end return #r, s",
    );
    assert_eq!((n, sum), (7999, 3999.0 * 3.0 + 3.0));
    let x: f64 = eval(
        &lua,
        "local t = {} for i = 1, 7999 do t[i] = tostring(2 ^ (i % 31)) end return bit.bor(unpack(t))",
    );
    assert_eq!(x, 2147483647.0);
    let n: usize = eval(
        &lua,
        "local t = {} for i = 1, 7998 do t[i] = 'ab' end return #struct.pack(string.rep('c2', 7998), unpack(t))",
    );
    assert_eq!(n, 2 * 7998);
}

#[test]
fn deep_nesting_fails_where_c_stack_would() {
    let lua = lua();
    let (ok, n): (bool, usize) = eval(
        &lua,
        "cjson.decode_max_depth(100000)\n\
         local v = cjson.decode(string.rep('[', 7998) .. string.rep(']', 7998))\n\
         local n = 0 while v[1] do v = v[1] n = n + 1 end\n\
         return pcall(cjson.decode, string.rep('[', 7999)), n",
    );
    assert!(!ok);
    assert_eq!(n, 7997);
    let err: String = eval(
        &lua,
        "return select(2, pcall(cmsgpack.unpack, string.rep('\\145', 4000) .. '\\1'))",
    );
    assert_eq!(err, "stack overflow (in function mp_decode_to_lua_array)");
    let err: String = eval(
        &lua,
        "cjson.encode_max_depth(100000) local t = {} t[1] = t\n\
         return select(2, pcall(cjson.encode, t))",
    );
    assert_eq!(err, "Cannot serialise, excessive nesting (7998)");
}

#[test]
fn each_cjson_table_has_its_own_settings() {
    let lua = lua();
    let (a, b): (String, String) = eval(
        &lua,
        "local other = cjson.new()\n\
         other.encode_number_precision(3)\n\
         return cjson.encode(1/3), other.encode(1/3)",
    );
    assert_eq!((a.as_str(), b.as_str()), ("0.33333333333333", "0.333"));
}

#[test]
fn msgpack_integer_sizes() {
    let lua = lua();
    let hex: String = eval(
        &lua,
        "local s = cmsgpack.pack(127, 128, 256, 65536, 2^32, -32, -33, -129, -32769, -2^31 - 1, 0.5, 0.1)\n\
         return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end))",
    );
    assert_eq!(
        hex,
        "7fcc80cd0100ce00010000cf0000000100000000e0d0dfd1ff7fd2ffff7fffd3ffffffff7fffffff\
         ca3f000000cb3fb999999999999a"
    );
}
