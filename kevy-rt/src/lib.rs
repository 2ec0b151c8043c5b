//! kevy-rt: per-core reactors, shards, cross-shard rings, reply ordering.
//!
//! # Who owns what
//!
//! The server runs `N` shards, one OS thread each, pinned to a core when
//! there are enough cores. A shard's thread (its *reactor*) owns, and is the
//! only thread that touches:
//! - its epoll instance, its own `SO_REUSEPORT` listener on the server
//!   address (the kernel spreads new connections over the listeners), and
//!   every connection it accepted — the connection's *home*;
//! - its part of the keyspace (`Service::Shard`): the keys whose Redis
//!   Cluster hash slot maps to it (`slot % N`, see [`slot`]);
//! - one producer end of each ring it sends on and one consumer end of each
//!   ring it receives on.
//!
//! What is shared: the [`Service`] (read-only: the command table), the
//! [`Stats`] counters (each shard writes only its own padded slot), and the
//! *mesh*: for every ordered pair of shards `(i, j)`, `i != j`, one bounded
//! lock-free single-producer single-consumer ring carrying batches from `i`
//! to `j` ([`ring`]), plus every shard's eventfd and "going to sleep" flag.
//!
//! # The request path
//!
//! 1. The reactor reads a connection's bytes and parses every complete
//!    command in the buffer (a bounded number per connection per iteration).
//! 2. Each command gets the connection's next sequence number.
//! 3. `Service::route` resolves it once (the command table knows the key
//!    positions). A command whose keys all live on the home shard runs inline
//!    and its reply goes straight into the connection's output buffer when no
//!    earlier reply is outstanding — the hot path, which allocates nothing.
//! 4. A command whose keys live on shard `j` is appended to the batch for
//!    `j`: argument bytes into one buffer, a small header per command.
//! 5. Commands that fan out (MGET, DEL, KEYS, DBSIZE, …: the table gives a
//!    [`Fold`]) are split into one part per owning shard; the home shard's
//!    part runs inline. The parts' replies fold (sum, all-OK, gather by key,
//!    concatenate, random pick) once all are in.
//! 6. A multi-key command that cannot be split (RENAME, COPY, MSETNX, …)
//!    whose keys span shards runs as a *coordinated* command: the home
//!    reactor asks each owning shard for copies of the keys
//!    (`Service::export`), runs the command on a scratch shard holding them,
//!    sends the keys it wrote back to their owners (`Service::import`), and
//!    releases the reply once every owner acknowledged. Until then the
//!    connection reads no further commands, so its later commands see the
//!    result. Without key locks this is not isolated from other clients'
//!    concurrent writes to the same keys; the README says what holds.
//! 7. At the end of the iteration each non-empty batch is pushed to its ring
//!    (one push per target), and the target is woken only if it announced it
//!    is going to sleep.
//! 8. A shard drains its inbound rings (a bounded number of batches per ring
//!    per iteration), runs the commands, and answers in a batch on the
//!    reverse ring; the same batch value carries requests one way and replies
//!    the other, and drained batches are reused, so the steady state
//!    allocates nothing per command on this path either.
//! 9. Replies are placed into the connection's slot for their sequence
//!    number. Slots drain to the output buffer strictly in sequence order, so
//!    a fast local reply never overtakes a slow remote one.
//! 10. Output is written once per iteration, one `write` per connection.
//!
//! # What is ordered
//!
//! - Replies on a connection: always in request order.
//! - Execution of one connection's commands on one shard: in request order
//!   (rings are FIFO and a shard runs its own commands inline in order).
//! - Across shards, two pipelined commands of one connection on keys of
//!   different shards may take effect in either order as seen by *another*
//!   client; the sending connection itself always sees its own writes,
//!   because every later command to the same shard queues behind them.
//!
//! # Sleeping and waking
//!
//! A reactor with nothing to do blocks in `epoll_wait`. Before it does, it
//! sets its `sleeping` flag, issues a SeqCst fence and looks at its inbound
//! rings once more; a producer pushes, issues a SeqCst fence and reads the
//! flag, writing the target's eventfd only when it is set. One of the two
//! always sees the other (the store-fence-load pattern on both sides), so a
//! batch is never left unseen by a sleeping shard, and a busy shard is never
//! sent a syscall.
//!
//! # Limits and fairness
//!
//! - No connection runs more than [`conn::CMD_BUDGET`] commands per
//!   iteration, and no ring delivers more than [`reactor::RING_BUDGET`]
//!   batches per iteration, so no source can hold a reactor.
//! - A connection whose unsent output exceeds [`conn::OUTPUT_SOFT_LIMIT`] or
//!   whose outstanding replies exceed [`conn::MAX_PENDING`] is not read or
//!   parsed until it drains: a client that never reads cannot grow the
//!   server's memory without bound.
//! - A query buffer larger than Redis's `client-query-buffer-limit` (1 GiB)
//!   closes the connection, as Redis does.
#![deny(clippy::undocumented_unsafe_blocks)]

mod conn;
mod fold;
mod msg;
mod reactor;
pub mod ring;
mod service;
pub mod slot;
mod stats;

pub use reactor::{bind, run, Bound, Config};
pub use service::{ClientCtx, ConnAction, Fold, Route, Service};
pub use slot::{shard_of, slot};
pub use stats::{ShardStats, Stats};
