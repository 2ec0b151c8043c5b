//! One file per command family, each ending in a `register` function that
//! adds its commands to the table.

pub mod connection;
pub mod docs;
pub mod keys;
pub mod server;
pub mod strings;

use crate::table::Table;

pub fn register_all(t: &mut Table) {
    connection::register(t);
    strings::register(t);
    keys::register(t);
    server::register(t);
}
