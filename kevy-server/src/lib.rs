//! kevy-server: the command table, the command families, and the glue that
//! runs them on kevy-rt's reactors.
#![forbid(unsafe_code)]

pub mod aof;
pub mod ctx;
pub mod errors;
pub mod evict;
pub mod families;
pub mod loading;
pub mod notify;
pub mod persist;
pub mod propagate;
pub mod scripting;
pub mod server;
pub mod service;
pub mod settings;
pub mod shard;
pub mod stats;
pub mod table;
pub mod tracking;

pub use ctx::{ConnCtx, Ctx, Session};
pub use server::{Config, Server};
pub use service::Kevy;
pub use shard::Shard;
pub use table::{CommandSpec, Handler, RouteKind, SubSpec, Table};
