//! The libraries Redis embeds for scripts (`cjson`, `cmsgpack`, `bit`,
//! `struct`), registered as globals of a shard's Lua state when it is
//! created.

/// Registers every embedded library in `lua`'s globals.
pub fn open_all(_lua: &mlua::Lua) -> mlua::Result<()> {
    Ok(())
}
