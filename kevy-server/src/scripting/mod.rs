//! Lua scripting.

pub mod lualib;
