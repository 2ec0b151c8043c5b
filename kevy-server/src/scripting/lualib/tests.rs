//! Unit tests: library calls in a fresh Lua 5.1 state.

use super::open_all;
use mlua::Lua;

fn lua() -> Lua {
    let lua = Lua::new();
    open_all(&lua).unwrap();
    lua
}

/// Runs `code` as a chunk named like a Redis script and returns its string
/// result.
fn run(lua: &Lua, code: &str) -> String {
    lua.load(code)
        .set_name("@user_script")
        .eval::<String>()
        .unwrap()
}

#[test]
fn cjson_round_trip() {
    let lua = lua();
    assert_eq!(
        run(&lua, "return cjson.encode({1, 2, {a = 1}})"),
        r#"[1,2,{"a":1}]"#
    );
    assert_eq!(
        run(
            &lua,
            "return cjson.encode(cjson.decode('[1,\"x\",null,true]'))"
        ),
        r#"[1,"x",null,true]"#
    );
}
