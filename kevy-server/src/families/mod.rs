//! One file per command family, each ending in a `register` function that
//! adds its commands to the table.

pub mod acl;
pub mod bitmaps;
pub mod command;
pub mod common;
pub mod config;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod generic;
pub mod geo;
pub mod hash_ttl;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod latency;
pub mod lists;
pub mod lolwut;
pub mod memory;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod streams;
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
    latency::register(t);
    server::register(t);
    debug::register(t);
    hashes::register(t);
    hash_ttl::register(t);
    sets::register(t);
    lists::register(t);
    lolwut::register(t);
    zsets::register(t);
    geo::register(t);
    persistence::register(t);
    transactions::register(t);
    dump::register(t);
    pubsub::register(t);
    scripting::register(t);
    hyperloglog::register(t);
    bitmaps::register(t);
    acl::register(t);
    streams::register(t);
    memory::register(t);
}
