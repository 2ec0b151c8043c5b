//! One file per command family, each ending in a `register` function that
//! adds its commands to the table.

pub mod command;
pub mod common;
pub mod config;
pub mod connection;
pub mod dump;
pub mod generic;
pub mod hashes;
pub mod info;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
#[cfg(test)]
pub(crate) mod testkit;
pub mod transactions;
pub mod zsets;

use crate::table::Table;

pub fn register_all(t: &mut Table) {
    connection::register(t);
    strings::register(t);
    keys::register(t);
    generic::register(t);
    command::register(t);
    config::register(t);
    info::register(t);
    server::register(t);
    hashes::register(t);
    sets::register(t);
    lists::register(t);
    zsets::register(t);
    persistence::register(t);
    transactions::register(t);
    dump::register(t);
    pubsub::register(t);
    scripting::register(t);
    memory::register(t);
}
