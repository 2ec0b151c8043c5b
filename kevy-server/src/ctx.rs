//! What a command handler sees: [`Ctx`] on the shard that owns its keys,
//! [`ConnCtx`] on the connection's home thread.

use crate::server::Server;
use crate::shard::Shard;
use kevy_resp::{Args, Reply};
use kevy_rt::ClientCtx;

/// A keyed (or whole-keyspace) command running on its shard.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    /// The selected database.
    pub db: usize,
    /// The client's facts (id, resp3, …).
    pub client: &'a ClientCtx,
    pub args: Args<'a>,
    pub out: Reply<'a>,
}

/// Per-connection state the server keeps beyond [`ClientCtx`].
#[derive(Default, Debug)]
pub struct Session {
    /// CLIENT SETNAME.
    pub name: Option<Vec<u8>>,
    /// CLIENT NO-EVICT ON (the `e` flag in CLIENT LIST).
    pub no_evict: bool,
    /// CLIENT SETINFO LIB-NAME / LIB-VER.
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    /// The prefixes it follows in broadcasting tracking mode, in byte
    /// order (CLIENT TRACKINGINFO lists them so).
    pub tracking_prefixes: Vec<Vec<u8>>,
    /// The client its invalidations go to (CLIENT TRACKING … REDIRECT),
    /// 0 for none, and that client's home shard.
    pub tracking_redirect: (u64, u32),
    /// Tracking was on at some point (tracking.rs keeps its id until it
    /// closes).
    pub tracked: bool,
    /// Its user, and whether it authenticated (acl.rs).
    pub login: crate::acl::Login,
}

/// A connection command running on the connection's home thread.
pub struct ConnCtx<'a> {
    pub server: &'a Server,
    /// The home thread's shard.
    pub shard: &'a mut Shard,
    pub client: &'a mut ClientCtx,
    pub session: &'a mut Session,
    pub args: Args<'a>,
    pub out: Reply<'a>,
}
