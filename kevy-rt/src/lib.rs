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
//!   Cluster hash slot ([`slot`](fn@slot)) the slot map gives it;
//! - one producer end of each ring it sends on and one consumer end of each
//!   ring it receives on.
//!
//! The slot map ([`SlotMap`]) says which shard owns each of the 16,384
//! hash slots. It is data, one map every shard reads, not a formula: the
//! service provides it ([`Service::slots`]), because its files on disk hold
//! each shard's keys in that layout and its loaders place keys by it, and
//! the Cluster protocol will report it and moving slots between shards
//! changes it. A server starts with slot `s` on shard `s % N`; a starved
//! shard hands a hot slot to a peer while it runs ("Moving slots to the
//! cores that have time").
//!
//! What is shared: the [`Service`] (read-only: the command table), the
//! [`Stats`] counters (each shard writes only its own padded slot), and the
//! *mesh*: for every ordered pair of shards `(i, j)`, `i != j`, one bounded
//! lock-free single-producer single-consumer ring carrying batches from `i`
//! to `j` ([`ring`]), plus every shard's eventfd, "going to sleep" flag and
//! monitor count.
//!
//! The reactor is split along those lines, and composes the parts:
//! - `conn.rs`: a connection, its buffers and its reply slots; the
//!   reactor keeps the table of them (`reactor.rs`: accept, read, parse,
//!   route, write).
//! - `reactor/mesh.rs`: the shard's end of the mesh (batches being
//!   filled, rings, recycled batches, sleep and wake-up).
//! - `reactor/executor.rs`: the shard's keyspace, its effects stream, its
//!   lock table (`lock.rs`) and what waits there. It runs every command
//!   that reaches the shard, whoever sent it, and is the participant side
//!   of every transaction: it grants `Lock` requests in the table's
//!   order, runs their commands, releases on `Unlock`.
//! - `reactor/coord.rs`: the coordinator of the transactions of the
//!   shard's own connections, one state machine each (below). It writes
//!   messages for other shards into their batches and leaves what a
//!   connection needs (read on, run a connection command, the answer) in
//!   an outbox; the executor likewise leaves what it owes its own reactor
//!   (a reply to one of its connections, a home lock granted). The reactor
//!   drains both after each event, so neither touches the connection
//!   table, and the coordinator's unit tests drive it with plain queues
//!   for rings.
//! - `reactor/tx.rs`: MULTI, EXEC, DISCARD, WATCH and UNWATCH on the
//!   connection's side, and the glue to the coordinator;
//!   `reactor/clients.rs`: what spans every shard's connections (CLIENT
//!   LIST/KILL, MONITOR); `reactor/pubsub.rs`: subscriptions and message
//!   delivery; `reactor/tracking.rs`: client-side caching's invalidations;
//!   `exec.rs`: the execution point; `reactor/busy.rs`: serving the
//!   other connections while a script runs long ("Busy scripts"), with
//!   the reactor's own accepting (`reactor/accept.rs`).
//!
//! `reactor/sim.rs` (tests only) runs several reactors on one thread with
//! their real rings, stepping shards in chosen or random orders (and now
//! and then holding what a shard sends past its step), so the
//! coordinator's properties (all-or-nothing, no deadlock, WATCH, locks
//! released on disconnect), blocking pops and moving subscribers' messages
//! are checked over thousands of interleavings.
//!
//! # The execution point
//!
//! Every keyed command runs through one call, `exec::run`, whatever path
//! brought it: inline on the home shard, from a peer's ring, deferred
//! behind a lock, inside a transaction, run by copy on a scratch shard. It
//! hands the command a [`Sink`] and gets back what it did: its reply bytes,
//! and the effects a log or a replica must replay, appended to the shard's
//! [`Effects`] stream (collected only while a consumer is attached). The
//! service times and counts the command there (INFO commandstats,
//! latencystats, errorstats, the slow log). Commands the runtime answers
//! itself (MULTI, EXEC, …) or refuses before they run are reported through
//! [`Service::ran_in_runtime`] and [`Service::refused`]. Messages to other
//! connections (MONITOR, pub/sub, client-side caching's invalidations)
//! and requests to block on keys ([`Sink::block`], "Blocking" below) hang
//! off the same point.
//!
//! # The request path
//!
//! 1. The reactor reads a connection's bytes and parses every complete
//!    command in the buffer (a bounded number per connection per iteration).
//!    When more commands wait behind the one it parsed (a pipeline) and
//!    the database is big enough for its lookups to miss the caches
//!    ([`Service::worth_prefetching`]), it first parses the next 16
//!    frames ahead (`kevy_resp::Parser::parse_ahead`, which keeps them
//!    for their turn, so no frame is read twice)
//!    and hints the keys that live here to the cache
//!    ([`Service::prefetch_nodes`], then [`Service::prefetch_values`] at
//!    the next command, once what the first hints brought has arrived):
//!    in a keyspace bigger than the caches, a
//!    lookup otherwise waits for two memory loads in turn (three for a value
//!    kept outside its node: a string longer than 23 bytes, a small
//!    hash's listpack), and that wait
//!    is most of what a pipelined GET costs; hinted together, the loads of
//!    sixteen commands overlap. A shard does the same for every sixteen
//!    commands of a batch from a peer. A MULTI block's commands were
//!    hinted as they arrived, queued, so EXEC hints nothing again. A lone
//!    command is not looked ahead of.
//! 2. Each command gets the connection's next sequence number.
//! 3. `Service::route` resolves it once (the command table knows the key
//!    positions). A command whose keys all live on the home shard runs inline
//!    and its reply goes straight into the connection's output buffer when no
//!    earlier reply is outstanding — the hot path, which allocates nothing.
//! 4. A command whose keys live on shard `j` is appended to the batch for
//!    `j`: argument bytes into one buffer, a small header per command.
//! 5. A command whose keys span shards (MSET, MGET, DEL, RENAME, SMOVE,
//!    SUNIONSTORE, …), a command over the whole keyspace (KEYS, DBSIZE,
//!    FLUSHALL, …), and every MULTI/EXEC whose keys are not all on the home
//!    shard runs as a *transaction*: see below. Its parts' replies fold as
//!    the table's [`Fold`] says (sum, all-OK, gather by key, concatenate,
//!    random pick, pages of one iteration in shard order) once all are in.
//! 6. At the end of the iteration each non-empty batch is pushed to its ring
//!    (one push per target), and the target is woken only if it announced it
//!    is going to sleep.
//! 7. A shard drains its inbound rings (a bounded number of batches per ring
//!    per iteration), runs the commands, and answers in a batch on the
//!    reverse ring; the same batch value carries requests one way and replies
//!    the other, and drained batches are reused, so the steady state
//!    allocates nothing per command on this path either. A shard that
//!    answers several of a peer's batches with one of its own drains more
//!    than it fills: what it has no room to keep goes back to the peer,
//!    empty, on the same ring, instead of being freed on this core while
//!    the peer allocates new ones (`reactor/mesh.rs`, `recycle_from`).
//! 8. Replies are placed into the connection's slot for their sequence
//!    number. Slots drain to the output buffer strictly in sequence order, so
//!    a fast local reply never overtakes a slow remote one.
//! 9. Output is written once per iteration, one `write` per connection;
//!    ready replies wait up to 500 µs for a reply still coming from another
//!    shard, so that a pipeline split over shards costs one write, not two.
//!
//! # What is ordered
//!
//! - Replies on a connection: always in request order.
//! - Execution of one connection's commands on one shard: in request order
//!   (rings are FIFO, a shard runs its own commands inline in order, and a
//!   command that must wait for a lock holds back every later command of
//!   the same connection on that shard).
//! - Across shards, two pipelined *single-key* commands of one connection
//!   on keys of different shards may take effect in either order as seen by
//!   another client; the sending connection itself always sees its own
//!   writes, because every later command to the same shard queues behind
//!   them. Anything that must be atomic across keys is one command or one
//!   MULTI/EXEC, and is (next section).
//!
//! # Transactions: atomic across shards
//!
//! A *transaction* is a MULTI/EXEC block, one multi-key command whose keys
//! span shards, or one command over the whole keyspace. Redis runs it
//! without any other client's command in between; kevy gives the same
//! guarantee with per-shard key locks taken by two-phase locking, in a
//! global order.
//!
//! **Who owns what.** Each shard's executor owns a lock table for its own
//! keys (`lock.rs`): the keys each transaction holds, plus a FIFO queue of
//! what waits. The transaction's *coordinator* is the home reactor of the
//! connection that sent it; it owns the transaction's state (its commands,
//! the lock plan, its phase, the replies gathered so far) and nothing
//! else. The home shard takes part like any other, through its executor,
//! inline instead of by message. Key names are locked in every database
//! at once, because SELECT inside MULTI can move later commands to another
//! database.
//!
//! **What runs.** `Service::route` gives each command's keys (the command
//! table's key positions; kevy-rt never looks at command names). The plan
//! is the set of keys per shard, including keys the connection WATCHes; a
//! command that reaches a whole shard (FLUSHALL, KEYS, SCAN) locks that
//! whole shard.
//!
//! 1. *Fast path.* When every key is on the home shard and none is locked
//!    or queued for, the commands run inline, back to back, in one go: no
//!    other command can run on a reactor in between, so that is atomic,
//!    and it costs what the same commands cost outside a transaction.
//! 2. *Lock phase.* Otherwise the coordinator acquires the plan's locks one
//!    shard at a time in increasing shard index: the home shard inline, the
//!    others by a `Lock` request on the ring and a `Locked` answer (which
//!    also says whether a key the client WATCHes changed).
//! 3. *Run phase.* With every lock held, the commands are sent in order to
//!    the shards that own their keys (several per batch; each shard runs
//!    them in ring order, bypassing the locks the transaction holds). A
//!    command that needs keys of several shards in one place (RENAME,
//!    SMOVE, SUNIONSTORE, …) is run by copy: the coordinator fetches the
//!    keys (`Service::export`), runs the command on a scratch shard (one
//!    kept and emptied between commands, [`Service::reset_scratch`]), and
//!    sends the keys it wrote back (`Service::import`), all while they stay
//!    locked; later commands are sent only after the write-back, so they
//!    see it. When that command is the whole transaction (a script whose
//!    keys span shards), each shard is asked for its copies right behind
//!    its lock request, and answers once the locks are held: the copies
//!    cost no round trip of their own. A command that finds its keys only by reading (SORT's BY and
//!    GET patterns: [`Route::All`] with [`Fold::One`]) locks every shard
//!    whole and runs by copy in rounds: it names the keys it needs
//!    ([`Service::copy_keys`]) from those copied so far, until a round
//!    names nothing new. Every shard stays locked throughout, so the rounds
//!    read one moment. Connection commands (SELECT, PING) run inline at
//!    the home shard in their turn.
//! 4. *Release.* After its last command each shard gets `Unlock`, behind
//!    the commands on the same ring, so a shard releases only after applying
//!    everything. The reply is released when every command answered.
//!
//! *Early run.* Most transactions (no WATCH, no connection command, no
//! command run by copy: plain MULTI blocks of keyed commands, MSET, MGET,
//! DEL, …) fold phases 2 and 3 together: a shard's commands travel right
//! behind its lock request and run the moment that shard's locks are
//! held, and the last shard unlocks itself behind them. A shard whose lock
//! request must wait keeps the commands (and the unlock) that arrived
//! behind it and runs them on grant. Each command still runs only while
//! the transaction holds its keys, and nothing can make such a transaction
//! back out, so the argument below is unchanged; it costs one round trip
//! per remote shard, and a transaction on one remote shard is one message.
//!
//! *Home first.* An early transaction on its home shard and one shard
//! below it, whose home keys are free, takes its home locks first, out of
//! shard order, and sends the lower shard its lock request marked not to
//! wait, with its commands and its unlock behind it: one message, like a
//! transaction whose home is the lower shard. Free there, the keys are
//! held only while the commands run (no lock-table entry), `Locked` comes
//! back, and the home part runs under the home locks. Taken there, the
//! shard answers `Refused` and drops what came with the request: nothing
//! ran anywhere, the home locks go, and the transaction starts over in
//! shard order (the next few to that shard lock in order too: keys busy
//! now are likely busy for a while). Every lock is still taken before any
//! is released, and the one request made out of order never waits, so it
//! is never part of a cycle of waits (below).
//!
//! **Phases.** A coordinated transaction is in one phase, and only the
//! coordinator's event handlers move it:
//! - *Locking* `{ next }`: plan entry `next`'s locks are requested; a
//!   `Locked` answer (or the home executor's grant) moves to `next + 1`
//!   and requests the following entry, with its commands when early.
//!   After the last entry: *Running* from the first step, or past the last
//!   when a WATCHed key changed or every command already went (early).
//! - *Running* `{ pc }`: sends step `pc` and goes on; a command run by
//!   copy moves to *Copying*, a connection command to *AtConn*; a PUBLISH
//!   waits here until every earlier command answered (their keyspace
//!   events go out first); past the last step the unlocks go out:
//!   *Releasing*.
//! - *Copying* `{ step, waiting }`: copies of the keys are coming; when
//!   the last arrives the command runs on a scratch shard, the keys it
//!   wrote are written back, and *Running* resumes after it.
//! - *AtConn* `{ step }`: the reactor runs the command on the connection
//!   and reports its reply and the connection's new state (SELECT); then
//!   *Running* resumes.
//! - *Releasing*: every unlock is sent; when the last reply is in, the
//!   replies are folded into the answer and the transaction is gone.
//!
//! Replies may arrive in any phase (an early transaction's commands run as
//! their locks are granted). A connection that closes does not stop its
//! transaction: some shards may already have run its commands, and every
//! lock must still be released in its turn; only the answer is dropped.
//!
//! **Why it is atomic.** Every command that touches a key checks the key's
//! shard's lock table first (one branch while the table is empty, the
//! common case): a locked key makes it wait in the queue, so no other
//! client observes a transaction's keys between its first and last
//! command. Every lock is taken before any is released (two-phase
//! locking), so the transaction is equivalent to running alone at the
//! moment it holds all of them; a reader that spans shards is a
//! transaction too, so it sees all of another's writes or none.
//!
//! Locks are shared or exclusive. A transaction whose commands on a shard
//! only read (MGET, EXISTS, a MULTI of reads, the keys it WATCHes) takes
//! them shared: readers of the same keys run side by side, and a writer
//! waits for them (and they for it). Two-phase locking with shared and
//! exclusive locks is serializable, so the argument above is unchanged.
//! Keys are locked by a fixed 64-bit hash of their name: two names with one
//! hash only make their commands wait for each other.
//!
//! A shard whose commands run the moment its locks are granted and whose
//! unlock follows in the same batch (the last shard of an early
//! transaction, or the home shard when it is last) runs them back to back
//! without entering the lock table: nothing else runs on a reactor in
//! between, which is what the lock would have guaranteed.
//!
//! **Why it cannot deadlock.** A transaction asks for shard `s`'s locks only
//! once it holds all it needs below `s`, and never asks for a lower shard
//! again (the home-first request is the exception, and it never waits:
//! it is granted or refused at once, so nothing waits on its behalf). Something waiting in `s`'s queue waits only for holders of locks
//! on `s` and for entries ahead of it in that same queue. A holder on `s`
//! is either finishing (it needs no more locks) or waiting on a shard above
//! `s`; an entry ahead is older in the FIFO. Follow any chain of waits:
//! within one shard it moves strictly towards the front of the queue or to
//! a holder, and from a holder it moves to a strictly higher shard. Neither
//! can repeat, so there is no cycle: the oldest waiter on the highest shard
//! with a waiter always gets its locks once the holders there finish.
//!
//! **Why single-key commands cannot starve a transaction.** The queue is
//! FIFO per shard: a command may run only if it conflicts with nothing
//! held *and nothing queued ahead of it*. Once a transaction's lock request
//! is queued, later commands on those keys queue behind it. (The one
//! place a command goes ahead of the queue is a group, below in "Groups";
//! it is bounded.)
//!
//! **A connection's own locks.** Locks held by a connection's transactions
//! do not stop that connection's next command or transaction (its commands
//! run in the order it sent them anyway): pipelined transactions on the
//! same keys overlap instead of taking a round trip each. This never jumps
//! the queue: another connection's waiter still goes first.
//!
//! **Why a transaction cannot stall unrelated keys.** Locks are per key:
//! a command on keys nobody holds or waits for runs at once, even while the
//! shard's queue is non-empty. Only commands that reach the whole shard
//! (FLUSHALL, KEYS, DBSIZE, SCAN) wait for the shard's locks to clear (and,
//! while they hold it, everything on that shard waits for them, as in
//! Redis), and a connection's command waits behind that connection's own
//! queued ones (its order on a shard is kept).
//!
//! **WATCH.** A WATCH registers the key with its owning shard, which keeps
//! a version per watched key that every write to it bumps (WATCH observes
//! kevy-store's update path); WATCH answers only once every shard registered its keys, so
//! any write that follows the reply is seen, whichever ring it took, and a
//! registration waits behind the client's own queued commands, so a write
//! the client sent before WATCH is not. EXEC's
//! lock requests ask each shard whether any key the client watches
//! changed; since the keys are locked from that answer on, the check and
//! the commands are one atomic step. EXEC, DISCARD, UNWATCH and closing the
//! connection drop the registrations.
//!
//! **The connection during a transaction.** A connection reads no further
//! command while its transaction still has requests to send (a later
//! command could otherwise reach a shard ahead of the transaction's lock
//! request). Once every request is on its way, as for an early transaction
//! on one remote shard, or on the home shard and one other, it reads on:
//! each shard sees its later commands behind the transaction (ring order,
//! and a command waits behind its own connection's queued lock request).
//!
//! # Durability: effects, the log's turn, and transactions
//!
//! When the service consumes effects ([`Service::wants_effects`]: kevy's
//! append-only log), every shard records them as commands run
//! ([`Effects`]), and hands them over in [`Service::end_iteration`]: after
//! the iteration's commands ran and *before* anything the iteration
//! produced leaves the shard — the replies written to its connections and
//! the batches pushed to other shards both go after it. So whatever a log
//! does there (a `write`, an `fdatasync` under `appendfsync always`)
//! happens before any client or any other shard can learn of those
//! effects, and one fsync covers every command of the iteration (group
//! commit).
//!
//! A cross-shard transaction that writes is *logged*: its coordinator
//! numbers it ([`TxTag`]); each shard tags the transaction's effects with
//! that number (the coordinator sends it with the lock request, and the
//! executor tags the commands, write-backs and imports it runs for it);
//! and once every part's reply is in — each one left its shard after that
//! shard's log took the part — the coordinator records the transaction's
//! *decision* in its own shard's effects ([`Effects::commit_tx`]), then
//! answers and sends the unlocks, all leaving after its own log took the
//! decision. Recovery applies a transaction's tagged effects on every shard
//! when its decision is found, and on none otherwise. That is atomic
//! because no shard lets go of a logged transaction before the decision:
//! the last shard of an early transaction does not unlock itself, and a
//! connection command or a WATCH never lets unlocks go ahead of the
//! decision. So nothing outside the transaction reads or writes its keys
//! until it is decided, and dropping an undecided one leaves every other
//! effect valid: they never depended on it. (A connection's own later
//! commands may run on keys its transaction holds, but their replies
//! follow the transaction's, which waits for the decision: nothing
//! acknowledged depends on an undecided transaction.)
//!
//! *Commands run by copy.* The scratch shard of a logged transaction
//! records its effects as any shard does (only then: an unlogged one
//! records nothing), those of the final run only (an attempt or a round
//! taken back cuts its effects back with its writes), every member of a
//! group in the order they ran. The coordinator splits them per owner
//! (`coord.rs`, `split_effects`): an effect whose keys
//! ([`Service::effect_route`]) are all one shard's goes to that shard's
//! *share*, in order, with its database. An owner logs its share, under
//! the transaction's tag, instead of the states its write-backs bring,
//! and imports those unlogged ([`Service::log_share`], `Req::Import` with
//! a share): the share replays to the state written back, because each
//! of its commands reads and writes only that shard's keys, and every
//! change to them is in it. Where that fails the owner logs the key
//! states, as for any write-back: a shard whose keys an effect names
//! together with another shard's (RENAME, SMOVE, SUNIONSTORE across
//! shards), a shard with a key written back that no effect names, and
//! every shard when an effect has no route of named keys (FLUSHALL,
//! SWAPDB, SORT with BY patterns). A shard that falls back changes
//! nothing for the others: their shares never read its keys. A key found
//! expired when it is copied out is deleted on its owner then; that
//! `DEL` is logged ahead of what the write-back logs, so a replay starts
//! the share, as the scratch shard started, without the key.
//!
//! # Pub/sub
//!
//! **Who owns what.** A subscription belongs to a connection, so each
//! shard keeps the subscriptions of its own connections: the connection
//! holds its channels, patterns and shard channels, and the shard's
//! registry maps each name to its local subscribers. Nothing about a
//! subscription crosses cores at subscribe time except two shared facts:
//! each shard's subscription count (an atomic, so a publisher asks only
//! the shards that have subscribers), and a directory of every name with
//! its subscriber count over all shards, behind a lock taken by
//! (un)subscribing and PUBSUB only, never by PUBLISH; PUBSUB CHANNELS,
//! NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB and INFO's counts read it.
//!
//! **PUBLISH counts exactly.** The publisher's home shard delivers to its
//! own subscribers, then sends one request (channel and message, copied
//! once) to every other shard whose count is non-zero; each delivers to
//! its subscribers of the channel and of every pattern that matches it
//! (kevy-store's glob, Redis's `stringmatchlen`), and answers how many
//! received it. The reply waits for every answer and is their sum (a
//! [`Fold::Sum`] fan-out, as for a multi-key command). A shard whose count
//! is zero when the publisher looks has no subscriber whose SUBSCRIBE was
//! confirmed before the PUBLISH: the count rises before the confirmation
//! is written (Release, paired with the publisher's Acquire), so a
//! PUBLISH that a client sends after seeing a confirmation sees it.
//!
//! **Order.** One publisher's messages are delivered on its home shard
//! in the order it sent them, and reach every other shard on that shard's
//! FIFO ring in the same order, so each subscriber receives one
//! publisher's messages in publish order. Messages of different
//! publishers are in no set order, as in Redis. A message that reaches a
//! connection while replies are owed to it waits behind them (so it never
//! overtakes the confirmation of its SUBSCRIBE); otherwise it goes to the
//! output at once.
//!
//! **Writing.** Replies are written first; a subscriber whose output holds
//! only messages waits in a push queue that the shard writes oldest first,
//! a round of a few writes at a time, looking at its sockets and rings
//! between rounds and never sleeping while the queue is not empty. An idle
//! shard thus writes every subscriber at once; a busy one reads its
//! pending input first, and the messages it delivers leave with those
//! still queued, in one write per subscriber for several publisher
//! batches. A queued subscriber is written once its first queued message
//! has waited a millisecond (at the end of the iteration under way), or at
//! once when 64 KB are queued for it (`reactor/pubsub.rs`); the output
//! limits count queued bytes as any other output.
//!
//! **Encoding.** A shard frames each message once (per pattern for
//! `pmessage`) and gives every local subscriber that frame, its first byte
//! `*` for RESP2 or `>` for a RESP3 push: the frames differ in nothing
//! else.
//!
//! **Sharded pub/sub.** SPUBLISH is PUBLISH restricted to the shard
//! channels (SSUBSCRIBE), delivered as `smessage`; patterns do not apply.
//! Redis routes a shard channel by its hash slot because a cluster node
//! holds the subscribers of its slots only; a kevy process holds every
//! slot, so routing by slot would only move every subscription to a
//! possibly remote shard for no gain in what PUBLISH must do.
//!
//! **Subscribed mode.** A RESP2 connection with a subscription may run
//! only what Redis allows there (the service names the refusal); the
//! check rides on the flag that already sends a connection in MULTI to the
//! slow path, so ordinary commands pay nothing for it. RESET drops every
//! subscription without confirmations; QUIT and closing drop them too.
//!
//! **Limits.** A subscriber whose output reaches the service's hard limit
//! (Redis's `client-output-buffer-limit pubsub`, 32 MB by default), or
//! stays at or above the soft limit (8 MB) for longer than its seconds
//! (60), is disconnected and its output dropped, so a subscriber that
//! cannot keep up costs at most that much memory.
//!
//! **Inside MULTI.** PUBLISH, SPUBLISH and PUBSUB's questions are queued
//! and run in their turn among the transaction's commands. When no other
//! shard has subscribers the transaction may run inline on the home shard,
//! PUBLISH delivering there and counting. Otherwise it is coordinated: at
//! a PUBLISH every other shard gets the message (`TxPublish`) and answers
//! its count as a part of that command, summed in EXEC's array, and the
//! home's reactor delivers to its own subscribers before the coordinator
//! sends the next command. Messages of the transaction are thus sent in
//! its order, after one publisher's earlier messages on every ring, while
//! the transaction holds its keys: a subscriber that reacts to one reads
//! the keys only once the whole transaction is done, as in Redis. The
//! subscription commands are refused inside MULTI (Redis 7.0 queues them,
//! but EXEC's reply then holds more replies than its array counts).
//!
//! # Client-side caching
//!
//! CLIENT TRACKING, as Redis 7 has it: a tracking connection is told when
//! a key it read may have changed (default mode), or when any key under
//! prefixes it follows was written (broadcasting mode, BCAST).
//!
//! **Who owns what.** A connection's tracking mode (on, BCAST, OPTIN or
//! OPTOUT, NOLOOP, CLIENT CACHING's one-command flag, a broken redirect)
//! is one byte of its [`ClientCtx`] ([`Tracking`]), so it travels with
//! every command to whatever shard runs it. Where its invalidations are
//! redirected (the target's client id and home shard, learned when CLIENT
//! TRACKING … REDIRECT gathers every shard's connections, as CLIENT LIST
//! does) is the session's ([`Service::tracking_redirect`]), read only at
//! home. The key's shard owns who read the key: the service keeps, beside
//! the keyspace, a table from key to readers (client id and home shard),
//! filled at the execution point when a tracking connection's read-only
//! command runs there, and emptied for a key by the store's update path
//! when the key is written, expires, is evicted from the table, or its
//! database is flushed. Reads and writes of a key run on its shard, one
//! at a time, so a write always finds every read that came before it. A
//! command run by copy reads on a scratch shard: its reads go to the
//! keys' owners (`Req::Track`) ahead of the transaction's unlock, so no
//! write of those keys comes in between. The prefixes broadcasting
//! connections follow are one directory every shard reads (replaced whole
//! when it changes; a shard rereads it when its version moved).
//!
//! **What crosses cores.** An invalidation is made where the key lives, as
//! a [`Pushes`] entry: the tracking connection's home and id, the writer's
//! id, and the keys (a RESP array). The runtime hands it to the home
//! (`Req::Invalidate` on the ring, or at once on the same shard), which
//! finds the connection by id and checks its state there, as Redis checks
//! it when it sends (still tracking, in the mode the message is for, not
//! its own write under NOLOOP), then frames it for whoever receives it:
//! a RESP3 `invalidate` push to the connection itself, or, when it
//! redirects, a message to the target's home (`Req::Redirected`), framed
//! there as a push (RESP3) or a `__redis__:invalidate` message (a RESP2
//! subscriber). A target that is gone makes the redirect broken
//! (`Req::RedirBroken`; a RESP3 tracker is told `tracking-redir-broken`).
//! FLUSHALL and FLUSHDB run on every shard; each invalidates everything
//! (a null) for the tracking connections it is home to.
//!
//! **What is ordered.** An invalidation reaches a connection behind the
//! replies it is owed when it arrives, as every pushed message does, so
//! it never overtakes the reply of a read it invalidates (that reply
//! leaves the key's shard first, and is still owed if it travels in the
//! same batch). An invalidation a connection's own write caused follows
//! that command's reply, ahead of the next command's, as in Redis: on the
//! connection's own shard it is delivered right after the command; from
//! another shard it carries the command's sequence number, and travels in
//! the batch that carries the reply, which the home delivers with it. A
//! shard gathers the keys written under each prefix over a loop iteration
//! and sends one message per prefix and follower
//! ([`Service::flush_pushes`]; without the follower's own writes under
//! NOLOOP), as Redis does per event loop; keys written on different
//! shards come in different messages, and invalidations made on different
//! shards are in no set order.
//!
//! **Cost when unused.** While no connection tracks and a shard remembers
//! no read, the execution point tests one counter around the handler
//! (which CLIENT TRACKING raises before it answers, so any command sent
//! after the answer sees it, whatever shard runs it), and the store's
//! update path only its observer branch. CLIENT CACHING's flag rides the
//! connection's `gate` (the next command takes the slow path, which
//! clears it); the runtime tests the connection's tracking byte after
//! each command (to deliver a tracking connection's own invalidation
//! right after the command's reply) and, for a peer's command, whether
//! the command made an invalidation. While some connection tracks, a
//! command that reads nothing for a tracking connection and writes
//! nothing the table knows of pays the observer's calls on its writes
//! and one more branch: the table raises a flag the shard shares when it
//! has something for the execution point.
//!
//! **Limits.** The tables hold at most `tracking-table-max-keys` keys over
//! all shards: a shard over the limit forgets keys of its own, telling
//! their readers as if the keys changed. An entry that doubles past eight
//! readers drops the ids of connections that closed, so connections that
//! come and go leave a bounded number of stale ids behind. A connection's
//! output counts its invalidations towards the subscriber output limit.
//!
//! # Blocking
//!
//! A blocking command (BLPOP, BLMOVE, BZPOPMIN, …) runs like any keyed
//! command, with [`Sink::may_block`] set when it runs on its own (never
//! inside MULTI or a transaction, where it answers as its non-blocking
//! form). Finding nothing, it sets [`Sink::block`] to its timeout and
//! writes no reply.
//!
//! **Who owns what.** The shard that owns the keys parks the client there
//! (`reactor/blocking.rs`): one FIFO of client ids per key, from whatever
//! shard. The client's home reactor keeps the rest: the reply slot stays
//! reserved, the connection runs nothing more, and its deadline sits in a
//! heap that bounds the reactor's `epoll_wait`, so timeouts keep
//! millisecond precision. A blocking command sent to another shard, or
//! waiting behind a lock, holds its connection until it answers or blocks
//! (the home cannot know before), so what the client pipelined behind it
//! runs after it, as in Redis, and a client is never parked twice. Timeouts, hang-ups and closing end the wait at
//! the home, which tells the owner to drop the waiter.
//!
//! **Serving.** Every command that runs on a shard while it has waiters
//! marks its keys that have one; right after that command, before the
//! next one runs (a pipelined one of the same client, or a peer's next
//! request in its batch), the owner serves the oldest waiter of each such
//! key by running its command again: it pops, recording its effect as the
//! non-blocking command (LPOP, LMOVE, ZPOPMIN, …). Not while a transaction
//! holds the key: then after its last command lets go (the client that
//! ran it runs nothing more until the end of the iteration, which serves
//! them first, and a peer's request behind the unlock finds them served).
//! Redis serves its blocked clients before the next command too. Waiters for
//! another kind of value than the key holds (a BLPOP on a key that is now
//! a sorted set) are passed over and keep their places, as Redis passes
//! over a client blocked for another type ([`Service::wakes`]). A waiter
//! on several keys is served once and leaves every queue.
//!
//! **Nothing is lost.** A waiter of the owner's own reactor is checked
//! synchronously (closing removes it at once). A waiter of another shard
//! whose keys are all on the owner and whose command only pops (BLPOP,
//! BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP: [`Service::serves_ahead`])
//! is served *ahead*: the owner pops for it, records the pop, drops the
//! waiter and sends the reply to its home in one message (`Served`), so
//! the element travels with the news that it is there. The home hands it
//! to the connection while the connection still waits for that command
//! (and no other owner claimed it); else (closed, timed out, unblocked in
//! the meantime) it sends it back (`PutBack`) and the owner runs the
//! service's inverse of the pop ([`Service::put_back`]: LPUSH or RPUSH at
//! the end it came from, ZADD NX with its score) as a write of that
//! client's: logged, WATCH and tracking told, keyspace events made, the
//! key's next waiter served. In the lock table it is the server's write,
//! not one of the client's commands, so it waits for every transaction
//! that holds the key, the client's own too: the client's next pop may be
//! a transaction over keys of several shards working on a copy of the
//! key, whose write-back replaces the key the element would have gone
//! back into. The log thus replays the pop and the push,
//! and the element is never served twice nor lost; what differs from
//! Redis is a moment in which the key lacks it (README). Any other
//! waiter of another shard is confirmed first: the owner
//! asks its home (`Wake`); the home answers *serve* only while the
//! connection still waits for that very command, and then marks it
//! *claimed*: no timeout or unblock ends it any more, its reply is on
//! the way. Until the answer the waiter keeps the head of its key's queue,
//! so order holds. A client that hangs up before the claim never has
//! anything taken; one that hangs up after it loses the element as a
//! Redis client that closes right after being served does. If the element
//! was taken meanwhile, or a transaction locked the key meanwhile (it may
//! be working on a copy of it), the waiter waits on, in place, and the
//! home lifts the claim.
//!
//! **Keys on several shards.** A blocking pop whose keys span shards
//! (BLPOP, BZMPOP, …) runs as a transaction on copies of its keys. When it
//! pops something it answers at once. When it finds nothing (and may
//! block) the coordinator answers nothing: it parks the client on every
//! owning shard, for that shard's keys, ahead of the transaction's unlock
//! on the same ring (the home shard's at once, before its own unlock).
//! Each shard thus parks it while it still holds the transaction's locks,
//! so no push can run between the look and the parking. The home keeps
//! one wait, with one deadline, whose record names every owner. A shard
//! with something for it asks the home as above; the home grants one
//! shard only (claimed) and answers any other *hold*: that owner's waiter
//! keeps its place, serving nobody (as does the home's own waiter). When
//! the granted shard found nothing after all, the home lifts the claim
//! and tells the held owners (`Unhold`) to look at their keys again. The
//! serving shard runs the command with its own keys (the others' look
//! empty there). Whenever the wait ends (served, timeout, CLIENT UNBLOCK,
//! hang-up) the home withdraws the waiter from every owner, ahead of
//! anything the connection sends next.
//!
//! **A move to another shard.** BLMOVE and BRPOPLPUSH whose destination
//! lives on another shard than their source cannot be served by the
//! source's shard alone. Finding the source empty, the command (a
//! transaction on copies of both keys, like LMOVE across shards) parks the
//! client on the source's shard only, the same way. When a write makes it
//! the oldest servable waiter there, that shard does not run it: it sends
//! it to the client's home (`Retry`; at once when the home is itself),
//! and the waiter keeps the head of the queue. The home claims the wait
//! (as for `Wake`) and runs the command again as a transaction over both
//! keys: the pop and the push happen together while both are locked, and
//! are logged as they are for LMOVE across shards (the write-backs, which
//! for a list changed at one end are the pop and the push themselves).
//! Before the transaction unlocks the source's shard it settles the
//! waiter there, on the same ring: moved, the waiter leaves the queue
//! (the next one is looked at); the source empty again (another client
//! took the element between the push and the lock), it stays where it
//! was, no longer woken, and the home lifts the claim. A client that
//! hangs up while the transaction runs loses nothing: the element is in
//! the destination, as if it had closed right after being served. The
//! waiters of one source are thus served in their order, one transaction
//! at a time.
//!
//! # Scripts: atomic across shards, undeclared keys included
//!
//! A script (EVAL, EVALSHA, FCALL) is one command to the runtime: its
//! declared keys (`numkeys`) route it like any multi-key command, and its
//! `redis.call`s run inside it, through the service, on the shard where it
//! runs. Redis runs a script with no other command in between and lets it
//! reach keys it did not declare; kevy does both, in three ways.
//!
//! 1. *Inline.* When every declared key is on the home shard and free, the
//!    script runs inline there (the transaction fast path). Every key it
//!    reaches must then be the home shard's and held by no transaction:
//!    one reactor runs the script with no yield, on keys nobody else has
//!    claimed, so nothing can come in between and no transaction's
//!    isolation is broken.
//! 2. *By copy.* When the declared keys span shards, the script is a
//!    transaction run by copy (phase 3 above): its declared keys locked,
//!    copied to a scratch shard, the script run there, what it wrote
//!    written back. Every key it reaches must be among the copies.
//!    Scripts of many clients on the same keys share one such
//!    transaction ("Groups" below).
//! 3. *Escalated.* A script that reaches a key its run cannot (another
//!    shard's, one a transaction holds, one not copied) stops at that
//!    `redis.call`, and the attempt is undone: the store rolls its writes
//!    back from an undo journal it keeps during the attempt (the pre-image
//!    of each key before its first change, from the update path's
//!    `before_write`), and the shard's effects and pushes are cut back to
//!    where the attempt began. No reply was written; a transaction of way
//!    2 releases its locks with nothing written back. The script then
//!    runs again as a whole-keyspace transaction by copy ([`Route::All`]
//!    with [`Fold::One`], the path of SORT's BY patterns): every shard
//!    locked whole in shard order (shared for EVAL_RO and FCALL_RO, whose
//!    runs only read), the script run on a scratch shard in
//!    rounds, each round copying the keys the last one reached
//!    ([`Service::copy_keys`]), until a run reaches no key that is not
//!    there; that run's writes go back to their shards.
//!
//! **Commands over the whole keyspace.** A script's KEYS, SCAN, DBSIZE,
//! RANDOMKEY, FLUSHDB, FLUSHALL or SWAPDB needs every key of every shard
//! (with one shard it just runs).
//!
//! - In ways 1 and 2 it stops the run as an unreachable key does, and the
//!   script escalates. In way 3 a round that reaches one asks for every
//!   shard's key names ([`Service::copy_names`]): each shard answers with
//!   [`Service::export_names`], a stand-in per key (its name, its type as
//!   the smallest value of that type, its TTL, in every database), loaded
//!   into the scratch shard beside the copies. From the next round on the
//!   command runs on the scratch shard as on a real one.
//! - A stand-in is no copy: a command that reaches its key by name (a GET
//!   of a name KEYS gave) has the key copied in the next round, as any
//!   undeclared key, and a round after which a stand-in the script wrote
//!   still exists (SWAPDB moved it) asks for its copy too, so a stand-in
//!   is never written back. Deleting one (FLUSHALL) writes back its
//!   deletion.
//! - Rounds are taken back whole by a journal of the scratch shard
//!   (`kevy-store`'s `Journal`), FLUSHALL and SWAPDB included. Every run
//!   starts from the same state of the thread's random generator, so SPOP
//!   and SRANDMEMBER pick the same in every round and in the final run;
//!   RANDOMKEY, whose pick also depends on the scratch table's layout
//!   (which changes as copies come in), answers what it picked in the run
//!   before, as long as that key is still there.
//! - SORT with BY or GET patterns escalates the same way, and in the
//!   rounds reaches the keys its patterns name from the copies so far, as
//!   a keyed command reaches its keys.
//!
//! The names are read while every shard is locked whole, in the same
//! transaction, after the locks and before the unlocks, like the copies:
//! the arguments below hold unchanged. *Cost:* a KEYS * (or DBSIZE) from
//! a script over N keys is a pass over every key on every shard, and N
//! names and stand-ins held on the coordinating shard until the script
//! ends: about 300 bytes per key at the peak beyond the name (200 000
//! keys: 65 MB over the keyspace's own 20 MB, all given back after; for
//! comparison, Redis's own KEYS * from a script holds about 125 bytes per
//! key for the Lua table of its answer). Values are copied only for the
//! keys the script reaches; FLUSHALL's write-back deletes each key on its
//! shard, and SWAPDB copies every key of the two databases.
//!
//! **Why it is atomic.** Way 1 is one reactor's uninterrupted work on free
//! keys. In ways 2 and 3 every key the final run reads or writes is locked
//! from before its copy is taken until after its write-back, so the
//! two-phase locking argument above holds unchanged; in way 3 no shard can
//! change at all between the rounds, so they read one moment. An attempt
//! that is undone leaves nothing behind outside a scratch shard.
//!
//! **Why it cannot deadlock.** An escalated run is a new transaction that
//! starts holding nothing (the attempt before it gave everything back) and
//! takes whole-shard locks in the global order, like every other one.
//!
//! **Who starts the second run.** The command that stopped sets
//! [`Sink::escalate`] (the runtime says where it may, with
//! [`Sink::may_escalate`]: not in a run of way 3 itself, and inside MULTI
//! only in an attempt, below) and writes no reply. Its connection's home
//! starts the transaction for the same request number: at once when it ran inline, on a `Req::Escalate` from
//! the shard that ran it for the home, from the executor's queue when it
//! ran behind a lock, and when the transaction of way 2 has released its
//! locks (`ToConn::Rerun`). A script that does not run inline
//! ([`Service::reaches_undeclared`]) holds its connection's reading until it
//! answers, so a command sent after it never runs before its second run.
//! A script that ran on a shard where clients wait on keys may have
//! written keys it did not declare: every key waited on there is looked
//! at again, as a write-back's key is. A logged transaction's write-backs are acknowledged before its decision
//! is recorded, so a crash never leaves a decision whose parts were not
//! all logged.
//!
//! **Scripts inside MULTI.** A script's transaction cannot start again
//! on its own inside EXEC: the commands before it already ran. With more
//! than one shard, an EXEC block with a script (one command for which
//! [`Service::reaches_undeclared`] is true) runs one of two ways.
//!
//! - *An attempt.* When the block could take the fast path (every key on
//!   the home shard and free), changes nothing but keys (no connection
//!   command such as SELECT, no PUBLISH) and WATCHes nothing, it runs
//!   inline as an attempt: [`Service::begin_attempt`] journals every
//!   write of the home shard and the effects are checkpointed, and its
//!   scripts run where they may escalate. When none asks, the block is
//!   done as on the fast path. When one does (it reached another shard's
//!   key or the whole keyspace), its own writes are undone as in way 1,
//!   [`Service::end_attempt`] takes back every earlier command's writes
//!   from the journal, the effects and messages are cut back to the
//!   checkpoint, nothing is answered, and the block runs the other way,
//!   for the same request. The attempt was one reactor's uninterrupted
//!   work and left nothing behind, so what runs next is the block's only
//!   run. Tracking invalidations the attempt made stay (a spurious
//!   invalidation is harmless; a lost one would not be).
//! - *Over the whole keyspace* (`coord.rs`, `whole_exec`): otherwise,
//!   or after an attempt, the block is a transaction that locks every
//!   shard whole in shard order (shared when every command only reads),
//!   sends its commands in their turn as any EXEC does, and runs each
//!   script by copy over the whole keyspace in rounds, as way 3 does: its
//!   copies are taken after the commands before it ran (they travel
//!   behind them on the same rings) and written back before the commands
//!   after it are sent. A WATCH is checked as the locks are granted.
//!
//! It is atomic and cannot deadlock by the transaction argument above:
//! one transaction, every shard's locks taken in the global order before
//! anything is released, every key it reads or writes (the scripts'
//! copies included) covered by a whole-shard lock from before it is read
//! until after it is written back. What it costs: a block with a script
//! whose keys span shards holds every shard, as a script that escalated
//! does; a block on the home shard's keys pays the journal of the keys it
//! writes (one copy of each key's state before its first change).
//!
//! **Cost.** The fast path pays one branch per command (the execution
//! point reports whether it escalated), and per undeclared key a shard
//! check and one lock-table lookup, and the journal of pre-images while a
//! script writes with more than one shard. A script whose keys are not
//! found in one round costs a round trip to every shard per round; rounds
//! are bounded (kevy-server's `scripting::MAX_ROUNDS`), and a script that
//! still reaches new keys past the bound (its key names derive from the
//! clock, or it follows a long chain of keys read from keys) is answered
//! with an error. A round runs on as if the keys it reaches that are not
//! copied yet did not exist, so most scripts settle in two rounds.
//!
//! **What is built.** All three ways, and the undoing of an attempt (the
//! server keeps each written key's state before the script's first write
//! to it; `kevy-store`'s `Journal` and [`Effects::checkpoint`] are the
//! general forms for the runtime's use), and scripts inside MULTI. A
//! script's writes in ways 2 and 3 are logged as the commands it ran,
//! on their keys' owners, where they can be replayed shard by shard, and
//! as the write-backs of the keys it wrote where they cannot ("Durability",
//! *Commands run by copy*). A script's PUBLISH and SPUBLISH answer the receivers
//! the server-wide pub/sub directory counts ([`Stats::receivers`]); the
//! message waits in the shard and goes out through [`Pushes::publish`]
//! or [`Pushes::spublish`] when the command ends, to the subscribers of
//! every shard, as the script's keyspace events do (in way 3 from the
//! final run only).
//!
//! # Groups: commands run by copy on the same keys
//!
//! Many clients running scripts on the same keys of different shards (a
//! job queue's keys that every worker's scripts name, a global rate
//! limiter) would each take those keys' locks for a round trip of its
//! own, one after another. Instead they share one transaction
//! (`coord.rs`: `join`, `run_copy`).
//!
//! **What joins.** A transaction that is one command run by copy on its
//! own keys (`Route::Keys` with `Fold::One` whose keys span shards: a
//! script of way 2 above, RENAME, SMOVE, LMOVE, …; not EXEC, not a
//! blocking command, not a whole-keyspace one) is *open* from its start
//! until its command runs: while it takes its locks, and while its copies
//! are on their way. A new such command of the same coordinator *joins*
//! an open transaction, as a *member* of its *group*, instead of starting
//! a transaction of its own, when:
//! - it names the same keys per shard as the open transaction (a digest
//!   of the lock plan finds the candidates, then the names are compared),
//!   and it only reads or the open one may write: its locks are the ones
//!   the group takes, as strong;
//! - it comes from another connection, and that connection is owed no
//!   earlier reply (below);
//! - the group has fewer than 64 members (`GROUP_CAP`).
//!
//! Otherwise it starts its own transaction as before (which is open in
//! its turn). The open transaction, the *leader*, goes on unchanged.
//!
//! **How a group runs.** When the leader's copies are in, the group
//! closes and runs on one scratch shard: the leader's command, then each
//! member's in arrival order, each with its own connection's facts and
//! seeing the writes of those before it. Every key any of them wrote is
//! written back once, in its state after the last, and the locks are
//! released once. The answers leave in order: the leader's, then each
//! member's to its own connection, for its own request. Each command
//! runs through the execution point as when alone: it is counted and
//! timed there, and its keyspace events and tracking reads are made
//! there, in the group's order.
//!
//! **Why it is atomic.** A group is one transaction: every key a member
//! can reach is one of its declared keys (a scratch shard reaches no
//! other, and a command that tries escalates, below), so one of the
//! leader's keys, locked from before its copy is taken until after its
//! write-back. Running the commands back to back on the copy is running
//! them one after another at the moment the group holds its locks, with
//! nothing in between: nobody can read or write those keys from that
//! moment until the release, so nobody can tell that a member ran
//! "before" it was sent.
//!
//! **Per-connection order.** A member's own earlier commands must take
//! effect before it. One that was answered ran on its shard: if it
//! wrote one of the group's keys, it did so before the group took that
//! key's lock (a held lock keeps every other client's command out), so
//! the group's copy has its write. One not answered yet might be queued
//! behind the group's lock, or travelling to a shard whose copy the group
//! already took, and would then take effect after the member: so a
//! command whose connection is owed any earlier reply does not join, and
//! runs on its own, behind it, as before.
//!
//! **Asking to run again.** Any command of the group, the leader
//! included, may reach a key its run cannot and ask to run again over
//! the whole keyspace ([`Sink::escalate`]). In a group, each command that
//! may ([`Service::reaches_undeclared`]: a script) runs as an attempt on
//! the scratch shard ([`Service::begin_attempt`]: a journal of the
//! pre-image of each key before its first write): asking, its writes are
//! taken back alone, its messages cut back ([`Effects::checkpoint`]), and
//! the writes of the commands before it stay; those after it run on as
//! if it had not run. It is then started again over the whole keyspace
//! once the group released its locks (`ToConn::Rerun`), as way 2 does
//! for a script alone; its connection reads nothing meanwhile.
//!
//! **Durability.** A group is one logged transaction: one [`TxTag`] on
//! every write-back, one decision recorded once every write-back is
//! acknowledged, and every answer, the leader's and each member's,
//! leaves after it. Each owner logs the members' commands on its keys
//! in the order they ran (or the keys' states: "Durability").
//!
//! **A member whose connection closes** before the group runs still runs
//! (its answer is dropped), as the transaction of a closing connection
//! does: the group's copies were taken for it, and taking a member out
//! would need a second way of running a group.
//!
//! **Fairness.** This is the only place a command goes ahead of the FIFO
//! lock queues. A member that joins while the group still waits for its
//! locks waits in the group's place; one that joins while the group holds
//! them (its copies on their way) runs ahead of whatever queued for those
//! keys meanwhile. A waiter is thus passed over by at most 64 commands'
//! runs on one copy, once per group ahead of it in the queue: a group
//! closes when its copies are in and runs at once, and a command that
//! comes after that starts a transaction of its own, queued behind the
//! waiter. The starvation argument above holds, with "a bounded amount of
//! work" in place of "one transaction".
//!
//! **Why it cannot deadlock.** A member takes no lock and queues for
//! none: the group's locks are taken exactly as the leader's alone would
//! be, and the argument above is unchanged.
//!
//! **Cost.** A command that could join looks at the coordinator's open
//! groups (a list of plan digests, empty unless a transaction by copy is
//! in flight) and compares key names with a group of the same digest; any other transaction pays one test
//! of that list, a single-key command nothing. A
//! group of `m` commands costs one round of locks, one copy and one
//! write-back of each key, and `m` runs; a member that is a script also
//! pays its journal (a copy of each key it writes, before its first
//! write).
//!
//! ## Riders: split commands on busy keys
//!
//! Many clients sending MSET (or DEL, MGET behind a writer, …) of the same
//! keys on two shards would each hold the first shard's locks for a round
//! trip to the other shard, one after another: a convoy of one round trip
//! per command, whatever the pipelines hold. A split command (a fold
//! other than [`Fold::One`]: its parts run on their own shards, no copy)
//! instead *rides* a transaction of the same coordinator that waits for
//! its locks (`coord.rs`: `ride`).
//!
//! **Who can be ridden.** An early transaction that is one split command
//! over shards, while it waits for the locks of its first plan entry: in
//! the home lock table when that entry is the home shard, else until that
//! shard's `Locked` comes back (not while it tries its home locks first).
//! It has asked no other shard yet. From the moment those locks are
//! granted it takes no rider.
//!
//! **What rides.** A split command of this coordinator's connections whose
//! plan has the same keys per shard (a digest, then the key names), whose
//! locks are no stronger (a read rides a reader or a writer, a write only
//! a writer), up to 256 riders, and whose connection's earlier commands
//! still unanswered (if any) are all split commands on that same key plan
//! (below). Each rider becomes one more command of the transaction, with
//! its own connection's facts; the transaction's locks cover it.
//!
//! **How it runs.** A rider's part for the first shard, when that is not
//! the home, goes there at once, marked `late`: that shard attaches it to
//! the transaction's lock request while the request waits (other requests
//! may have queued behind it meanwhile), and runs it at once when the
//! locks are held. Every other part goes as the transaction's own do,
//! behind them in arrival order: the home parts when the home locks are
//! held, each later shard's behind its lock request, then its unlock.
//! However many ride, the transaction costs the round trips it costs
//! alone. Each part runs through the execution point with its own client
//! (counted, timed, logged under the transaction's one tag, its events
//! and tracking made as when alone). Each connection gets its own
//! command's reply. A rider's connection reads on, so that a pipeline of
//! the same command rides together; but until the ridden transaction's
//! requests are all on their way, only the same command on the same keys
//! runs (it rides too, or, the transaction full, queues behind it on
//! those keys). Any other command stays in the buffer until then
//! (`ride_held`), so that it comes behind the ridden one on every shard.
//! The transaction's own connection reads nothing meanwhile, as for any
//! transaction.
//!
//! **Why it is atomic.** A transaction with riders is one transaction:
//! its locks are the leader's, taken as the leader's alone would be,
//! before any of its commands runs and released after all ran; the
//! riders' commands run back to back with the leader's at each shard,
//! under those locks. So every rider is atomic, and the riders and the
//! leader serialize in arrival order at the moment the transaction holds
//! its locks. Deadlock freedom is unchanged: a rider takes no lock.
//!
//! **Per-connection order.** A rider runs when the ridden transaction
//! does, possibly before commands that were queued ahead of it. That is
//! only allowed when the rider's own earlier commands cannot be among
//! them. `Chain` (`conn.rs`) records, per connection, the run of its
//! latest requests that were split commands on one key plan (their
//! digest, the first and one-past-last sequence numbers). A command may
//! ride transaction `T` when the connection owes no earlier reply, or its
//! chain covers every reply it owes (nothing else was sent since) and is
//! on `T`'s key plan. Each such earlier command `E` is a transaction of
//! this coordinator on `T`'s keys, or a rider of one; the connection read
//! on after it only once that transaction had sent everything, which an
//! early transaction does only once its first shard's locks are held. `T`
//! still waits for those same locks, so it is behind `E` there: if either
//! writes, `T` runs only after `E` let go of them, which `E` does only
//! once every part of it ran everywhere; if both only read, their order
//! does not matter.
//!
//! **Fairness.** Riders join only while the ridden transaction waits for
//! its first shard's locks, and wait in its place: a command queued
//! behind it is passed over by at most 256 commands' parts once.
//!
//! **Cost.** A split command over shards looks at the coordinator's
//! ridable transactions (a list of plan digests, empty unless one waits
//! for its first shard's locks) and compares key names with one of the
//! same digest; while a command of a connection rides, each next command
//! of that connection is routed once more to compare its name and keys.
//! A ridden transaction's commands cost their parts and their replies,
//! and none of them a round trip of its own.
//!
//! ## Shared reads: the same read from many connections
//!
//! Many clients reading the same keys on several shards at once (a hot
//! MGET) would each pay a transaction: a lock round, a part on every
//! shard, a fold. Reads take no exclusive lock, so nothing makes them
//! wait and nothing lets them ride. Instead, requests that read the same
//! thing in the same iteration *share* one read (`tx.rs`: `share`).
//!
//! **What shares.** A command whose keys span shards and that the service
//! says may share ([`Service::shares`]: MGET, while no `keymiss` event is
//! configured), sent by a connection not in MULTI, not tracking keys, not
//! riding a transaction, while no client is a MONITOR. In an iteration,
//! such a request *leads* a group when the same read (arguments,
//! database and protocol: a digest) is among the shard's last eight that
//! could have (a read that does not repeat runs at once, as without
//! groups); later ones with the same arguments, byte for byte, join it as
//! *sharers*, up to 4,096 per group and 16 groups per iteration, if their
//! connection owes no earlier reply or only replies of that group. A
//! sharer takes a reply slot and nothing else.
//!
//! **How it runs.** Once the iteration's connections have run, each group
//! starts as its leader's transaction (`start_shares`), exactly as the
//! leader alone would have; when it is done, its reply answers the leader
//! and every sharer, and the service counts each sharer's call as running
//! it would have ([`Service::shared`]: command statistics, keyspace hits
//! and misses). Until its group starts, a connection in one runs only a
//! request that shares that group too; anything else, even the same
//! command when it may not share (its connection owes a reply from
//! before the group), stays in its buffer (`ride_held`, as for riders)
//! and runs in a later iteration: run on its own, it could go ahead of
//! the group's read, or make the connection wait for two transactions
//! at once. When the leader's transaction keeps its connection from
//! reading on until it has sent everything (`all_sent`), every sharer's
//! connection waits with it, and is let go with it.
//!
//! **Why every sharer reads one moment of its own.** A sharer's request
//! was read from its socket before this iteration began, and every part
//! of the group's transaction runs after the iteration's connections ran:
//! the transaction reads one moment (it is atomic, above) that lies after
//! every sharer was sent and before any is answered, so each sharer may
//! take it as its own. Per connection: everything a sharer's connection
//! sent before it was answered, or is in the group (conservative: the
//! group's lock requests queue behind anything the connection still has
//! in flight on those keys anyway); nothing it sends after it runs before
//! the group's transaction is on its way.
//!
//! **What differs.** A shared call runs no command of its own: its time in
//! `INFO commandstats` and `latencystats` is zero, and the keys' LFU
//! counters see one access for the group (README).
//!
//! **Cost.** A command whose keys span shards asks the service whether it
//! may share; one that may compares its arguments with this iteration's
//! groups. A sharer then costs its parsing, that comparison, its slot and
//! a copy of the reply.
//!
//! # Busy scripts
//!
//! A script runs on one reactor with no yield. Past `busy-reply-threshold`
//! Redis answers every other client from the script's hook
//! (`processEventsWhileBlocked`); kevy's other reactors answer theirs on
//! their own (the service's `route` refuses with `-BUSY` while a script
//! is busy), and the script's reactor does it from the hook too:
//!
//! - A command the service says may run long ([`Service::runs_long`]: a
//!   script) runs with the reactor's connection table and listeners
//!   *lent* to a desk, which shares the reactor's poller: moved into it,
//!   by value, for the command's time, and back after. That is so
//!   wherever a script runs: inline on its home shard (alone, or in a
//!   transaction's fast path or attempt), from a peer's ring, from the
//!   lock queue when the lock it waited for is released (the reactor
//!   lends around every step that may release one while a script waits
//!   there: `Executor::long_queued`), and by copy on a scratch shard in a
//!   coordinated transaction (declared keys on several shards, each
//!   round and the final run of a script over the whole keyspace, a
//!   script inside an EXEC block over every shard): the coordinator
//!   advances such a transaction with the table lent. The desk sits in a
//!   thread-local slot, and the script's hook, every so often once the
//!   script is busy, calls [`serve_while_busy`] with the shard the script
//!   runs on (a scratch shard, by copy).
//! - The desk polls the reactor's epoll without waiting and accepts new
//!   connections. A connection that runs commands the plain way (not in
//!   MULTI, not blocked, paused, closing or gated) has its socket read
//!   and its complete commands answered in order: the refusal `route`
//!   gives (`-BUSY`), or [`Service::exec_while_busy`]'s reply for what
//!   may run then (SCRIPT KILL, SHUTDOWN NOSAVE, …). The first command it
//!   cannot answer so, and everything after it on that connection, stays
//!   in the buffer. Replies take their slots as any reply does, so they
//!   leave in order behind anything the connection is still owed, and
//!   are written at once. Its first look also writes what the other
//!   connections are owed from before the command (the reactor writes
//!   output at the end of its iteration, which waits for the command),
//!   as Redis's `beforeSleep` does while a script is busy; a connection
//!   waiting for the command keeps its output, as Redis's protected
//!   client does. When the command ends, the reactor looks at
//!   every connection the desk touched: its output is flushed, what was
//!   left in its buffer runs, a connection that closed is closed.
//! - Nothing else runs: no ring is drained (a batch from another shard
//!   waits in its ring until the script ends: Redis has no such thing,
//!   and the other shards' clients already get `-BUSY` on their own), no
//!   other transaction advances, no connection closes, no timer fires.
//! - The script's own connection is never served by the desk. Inline it
//!   is out of the table while its command runs. Anywhere else it waits
//!   for its script, and a connection that waits reads no command
//!   (`blocked`, which the desk's test for a plain connection includes):
//!   a script that does not run inline holds its connection until it
//!   answers (see "Scripts", *Who starts the second run*), and a
//!   coordinated transaction that runs a command by copy holds its
//!   connection until its answer. A script from a peer's ring, or queued
//!   for a peer, belongs to another reactor's connection.
//!
//! **Why it is safe.** The running command holds the executor (the shard,
//! its effects, its locks), the mesh and, in a coordinated transaction,
//! the coordinator (the transaction itself is out of the coordinator's
//! table while it advances); the desk owns, for that time, exactly what
//! the command never touches. Neither the executor nor the coordinator
//! ever touches a connection: they name connections by slab index and
//! generation and leave what a connection needs in their outboxes, which
//! the reactor drains once the table is back. So a script's connection
//! may sit in the lent table (by copy, from the lock queue) without being
//! aliased: the desk owns it and leaves it alone (above). Nothing is
//! aliased and the borrow checker sees it all: the desk is a value moved
//! out of the reactor and back, what the command may use is handed to it
//! as separate borrows, and the slot is taken out while the desk serves,
//! so a call from inside it finds nothing. Epoll events the desk reads and
//! does not act on are level-triggered and come back; the waker's edge is
//! not needed, because a reactor looks at its rings again before it
//! sleeps.
//!
//! **Why it cannot hang a transaction.** While the desk serves, the
//! script's reactor drains no ring, so other shards' batches to it wait
//! (a full ring makes the sender keep its batch and retry; nothing
//! blocks). The script needs nothing from them: by copy it runs only once
//! every copy is in, on the scratch shard, and every other step runs from
//! what its shard holds. What the other shards wait for (the write-backs,
//! the unlocks, a lock grant) goes out when the script ends, killed or
//! not: SCRIPT KILL stops a script that has not written (`-UNKILLABLE`
//! otherwise), which answers Redis's error, and its transaction goes on
//! to its end as after any error (a killed round of a script over the
//! whole keyspace is its answer; nothing is written back), releasing
//! every lock. SHUTDOWN NOSAVE stops the script and every reactor stops
//! at the top of its loop.
//!
//! **Cost.** One flag test per command on the inline and ring paths; one
//! test per transaction step run by copy, and one of a counter per unlock
//! and per transaction step; a script moves a few vectors in and out;
//! epoll is polled only once a script is past its threshold, every 100000
//! Lua instructions.
//!
//! # Commands the server issues itself
//!
//! After each tick shard 0 asks [`Service::internal_command`] for a
//! command to run as a client of no connection would (a save point's
//! BGSAVE), transaction and all, its reply dropped. A SIGINT or SIGTERM is
//! answered on shard 0 by [`Service::stop_command`]: a command that stops
//! the server in its own time (SHUTDOWN, which saves first when save
//! points are set), or nothing, to stop at once. On the way out each shard
//! gets [`Service::stopping`] with its last effects.
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
//! The waker eventfd is edge-triggered, so a wake-up costs the producer's
//! `write` and no `read` on the sleeper.
//!
//! Three things keep wake-ups rare where they cost most: the first two on
//! a steady stream of cross-shard requests (a worker pool whose queue
//! lives on another shard, say), the third on lone requests from clients:
//! - A reactor that sent requests to other shards in the last 100 µs
//!   (`ANSWER_SPIN_US`) and has nothing else to do does not sleep yet: it
//!   polls its rings and connections, yielding its core to any other
//!   thread that wants it between looks, until something arrives or the
//!   time is up. Answers come within a peer's iteration; without the poll
//!   each would need a wake-up, and on an idle core (a virtual machine's
//!   above all) the way out of idle takes longer than the answer. What
//!   it costs is that CPU time, and only right after a request.
//! - A peer is woken at most once per 20 µs by one shard
//!   (`mesh::WAKE_GAP_US`): a batch for a peer that was woken less than
//!   that ago and is asleep again waits out the gap (the loop does not
//!   block meanwhile) and takes along whatever follows. A lone message
//!   never waits; a stream that would wake the peer per message wakes it
//!   once per gap, sparing its core (perhaps shared with other threads)
//!   two context switches each time.
//!
//! - A reactor serving a stream of lone requests (clients that wait for
//!   each reply: on average under 8 commands between two idle moments,
//!   and the next event within 4/5 of the poll after it went idle)
//!   polls its connections and rings for up to `idle-poll-us` (50 µs by
//!   default; 0 turns it off) before it sleeps, the same way. Each such
//!   request would otherwise wake it, and the wake-up is the request's
//!   cost: the client's send does the wake-up and waits for it, and on a
//!   virtual machine the idle core's way out of idle comes on top. Here,
//!   one client sending GETs one at a time got 18 k answers a second
//!   without the poll and 33 k with it (Redis: 17 k), four clients 63 k
//!   and 175 k (Redis: 60 k); a load generator bound by its own core
//!   (`redis-benchmark -P 1`, 50 clients) served large replies (LRANGE of
//!   100 or 300 elements) 10-20 % slower than Redis without it, whose
//!   longer iterations find the next request already there.
//!
//!   The poll spends CPU time the core would spend idle: a shard that
//!   serves a steady stream of lone requests arriving within 40 µs of
//!   each other uses its whole core (one client: 90 % of it instead of
//!   37 %), and under `-P 1` kevy's server CPU rose from 15 % under
//!   Redis's to 3-17 % over it, for 2-12 % more requests than Redis
//!   serves. A pipelining client's wake-up serves many commands, so
//!   polling for it would only turn idle time into CPU time (`-P 16`
//!   server CPU per request rose 16 % on one workload when every idle
//!   gap was polled); a light load's gaps are too long to wait out.
//!
//! None changes what the handshake guarantees: a batch pushed is seen.
//!
//! # Moving connections to the cores that have time
//!
//! A connection's home is the shard whose listener the kernel handed it
//! to (`SO_REUSEPORT` spreads them evenly), and most of what it costs is
//! its home's: reading, parsing, writing, the fold. When other processes
//! compete with one shard for its core (the application, a load tool, a
//! noisy neighbour), that shard gets a fraction of the core while the
//! others have time to spare, and every connection whose home it is
//! waits for it. So a shard that does not get its core hands some of
//! its connections to a shard that does (`reactor/balance.rs`).
//!
//! **What a shard measures.** Every 10 ms of its loop, a reactor reads its
//! own thread's `schedstat` (`/proc/thread-self/schedstat`: time run and
//! time spent runnable but waiting for the core, in ns, kept open and
//! read with one `pread`) and publishes, per mille of the elapsed time,
//! what it ran and what it waited ([`ShardStats`]'s `cpu_run` and
//! `cpu_wait`, with `shedding` while it hands connections away). Waiting is the signal: a shard whose own work saturates
//! its core waits little (nothing else wants it), one that shares its core
//! with a busy thread waits about as long as it runs.
//!
//! **When it moves connections.** A sample is starved when the shard
//! waited at least 25 % of it, or at least 10 % and as long as it ran (a
//! shard with little work left waits at each wake-up, and every message
//! through it waits with it). A shard counts starved samples up and other
//! samples down (to at most five); at three it is *starved* (one sample
//! can catch a burst: 500 connections arriving at once), and one starved
//! for a while stays so through a calmer sample or two. Once its
//! starvation lasts, and not soon after it took connections or slots
//! itself (the two guards of "Moving slots to the cores that have
//! time"), it hands
//! connections to the peer that waited least, provided that peer waited
//! under 10 % (it gets its core: however busy its own work keeps it, it
//! serves a connection faster than a shard that has part of a core) and
//! is not an idle or light peer on a core with no more room than its own
//! (below), and
//! is not handing connections away itself (two shards that each saw the
//! other calm for a moment would pass them back and forth) nor running a
//! command that may run long (`running_long`, set around every script:
//! its loop does not turn, so a connection handed to it would wait
//! unanswered for the command's end, where its home's desk answers it,
//! BUSY past the threshold, "Busy scripts"): half of its
//! movable connections at once, then, until it is no longer starved,
//! every connection it accepts and every connection the moment its
//! replies are written (the one moment a worker that spends its life
//! blocked in BLPOP is movable). Only starvation moves
//! connections, never mere load, so on an idle or evenly loaded machine
//! nothing moves, and a connection moved to a shard with spare time stays
//! there unless that shard becomes starved in turn. Balancing runs only
//! with several shards pinned to distinct CPUs (`shard-balance yes`, the
//! default; `no` turns it off; `churn` moves half of the movable
//! connections to the next shard every sample whatever the load, unless
//! that shard runs a long command, a mode for tests that makes every path
//! run on moving connections). While it
//! or a peer is starved, a shard also skips the poll before sleep
//! ("Sleeping and waking"): its own poll's CPU time is the competing
//! thread's, and a starved peer answers when it gets its core, mostly
//! after the poll gave up.
//!
//! **Room on the cores.** Waiting speaks for a busy peer only. One that
//! is idle or light (it ran under a quarter of its last sample) wakes
//! now and then and runs briefly, and the scheduler lets such a thread
//! run at once even on a core another process keeps busy: it looks calm
//! whatever else its core runs. A starved shard that handed it the load
//! would find it starved in turn, on a core no better than its own, and
//! connections and slots would go back and forth (a pub/sub fan-out
//! whose load generator took one core, with a tenant taking a third of
//! the other, ran so at two thirds of its one-core rate, and a shard
//! kept busy beside a busy thread handed its slots to an idle peer
//! beside another, and got them back, three times a second). And when
//! both cores are shared, both shards are starved and neither is calm:
//! a load split over them stayed split, each half starved and sending
//! the other its commands and messages. So while it is starved a shard
//! watches every shard's core (`reactor/room.rs`): in `/proc/stat`'s
//! per-CPU idle and total ticks (one read of the file's head covers
//! them all; it counts a core's current idle spell too, where the
//! cpuidle times in sysfs grow only when a spell ends), in windows that
//! close once each core has counted ten ticks (100 ms). A shard's *room*
//! over a window is its core's idle time plus its own run time. An idle
//! or light peer takes connections only once a window has found its
//! room at least 15 % of a core more than the starved shard's own; and
//! when no peer is calm, a starved shard whose load is young (its first
//! half second of work after an idle spell, as a load split by the
//! kernel over the shards' listeners is) or crosses to its peers (20
//! batches or more pushed to them in a sample: halves that feed each
//! other, a fan-out whose publisher is on one shard and subscribers on
//! both) hands it to the roomiest peer with that margin (two shards
//! never find each other roomier by it). Failing that, a young crossing
//! load goes to the peer of the lowest number whose room is within the
//! margin of its own: the halves of a fan-out gain more by sharing one
//! core than either loses to the other's, and the lower-numbered shard
//! keeps them (its peer would hand them over only to a roomier core). A
//! lasting split stays unless a core is clearly roomier, and one whose
//! shards do not feed each other stays once it is no longer young: loads
//! that are each a shard's own lose by crowding on one core. A shard
//! that is no longer starved drops the watch:
//! the next starvation is judged by what the cores do then. Where
//! `/proc/stat` cannot be read, peers are judged by their waiting alone.
//!
//! **Which connections move.** Only one with nothing in flight and no
//! state that other shards address by its home: no reply owed (no slot,
//! nothing parked), no input left to parse, not in
//! MULTI, not in or waiting for a transaction, no WATCH, not blocked,
//! not a monitor, not tracking, not paused, not closing, not still
//! arriving from an earlier move, and no script running long on its home.
//! A subscribed connection moves too (below), unless some connection has
//! used CLIENT TRACKING … REDIRECT (its target may be a subscriber that
//! is addressed at its home). Such a connection's whole state is
//! its socket and its [`ClientCtx`] and session: its client id, name,
//! database, protocol, user and flags go with it, so CLIENT LIST, CLIENT
//! KILL and every reply look the same after the move. Keys stay where
//! they are: moving a connection changes which of its commands run inline
//! and which cross a ring, not what they do.
//!
//! **How it moves.** The old home removes the socket from its epoll set,
//! takes the connection out of its table (its slot's generation moves on,
//! as when it closes) and puts it in its batch for the new home, which
//! travels the ring like any other message. The new home adds the socket
//! to its own epoll set (level-triggered, so bytes that arrived on the way
//! are reported at once), enters it in its table under the same client id
//! with `home` set to itself, writes what output it brought (a
//! subscriber under a flood always has some) and reads on. Nothing was
//! owed to or by the connection, so no reply can be on its way to the
//! old home (a subscriber's messages are handed over below);
//! a command the client sends meanwhile waits in the socket. What the old
//! home may still have on its rings for the connection is the tail of
//! its last transaction, already answered: the write-backs and unlocks
//! of a command run by copy or of an EXEC. A connection's own locks let
//! its commands through (they come after them on the same ring), but
//! only from the shard that took them: in the lock table a claim is the
//! connection *through a shard* (`lock::owner`), so a command sent from
//! the new home waits for the old home's unlock and sees the write-back,
//! as another connection's would. The other tail is the withdrawal of a
//! wait that ended (`Unpark`, after a timeout or CLIENT UNBLOCK): a key's
//! owner withdraws a waiter only for the home that parked it, and a wait
//! parked from the new home replaces one the old home left, so a client
//! that blocks again from its new home keeps its place. CLIENT LIST
//! or CLIENT KILL that asks every shard while a connection is in a ring
//! does not see it: a window of one ring hop.
//!
//! **Moving a subscriber** (`reactor/handoff.rs`). A subscriber's
//! subscriptions are entries in its home's registry, and publishers on
//! every shard send a message to each shard with subscriptions: moving
//! the entries with the socket would lose a message already on its way
//! to the old home, or let one a publisher sends later directly to the
//! new home overtake one it sent earlier by way of the old. So the
//! subscriptions change shards by a cut, one per move (a set of
//! subscribers moved from shard A to shard B together):
//!
//! - A keeps each moved subscriber's registry entries, under its old
//!   slot (reserved, same generation) as a *proxy*: a message that
//!   reaches it is counted and forwarded to B (`Forward`, the frame and
//!   the client ids), on the A→B ring behind the connections themselves.
//! - B enters the subscriptions in its own registry on arrival, but a
//!   message from shard X reaches a moved subscriber at B only once X's
//!   cut has passed both ways: B asks every shard X for a cut (`CutAsk`);
//!   X sends `Cut` to A and `CutDirect` to B, one behind the other in its
//!   own order. At A, X's `Cut` ends forwarding of X's messages (later
//!   ones are not counted there) and is passed on to B (`CutFwd`) behind
//!   every message of X that A forwarded. At B, a message of X before
//!   `CutDirect` is not counted (A forwards it); after `CutDirect` and
//!   before `CutFwd` it is counted and held for the subscriber; after
//!   both it is delivered as to any subscriber, and `CutFwd` releases
//!   what was held, in order. B's own messages and A's own take the same
//!   path (B's `Cut` to A leaves when the connections arrive).
//! - Every message of each publisher thus reaches the subscriber once,
//!   counted once, in the order it was published. When every shard's
//!   `Cut` has reached A it drops the proxies (and their slots); when
//!   every `CutDirect` and `CutFwd` has reached B the subscribers are
//!   ordinary subscribers of B. Until then a moved subscriber's commands
//!   wait in its socket (a window of a few ring hops), so no
//!   (un)subscription races the cut, and it cannot move again.
//! - What B holds is counted against the pub/sub output limit: a
//!   subscriber whose held messages reach the hard limit is closed.
//! - A client killed or closing meanwhile is dropped at B as any other;
//!   A forwards to it until the cut ends, and B drops what comes for a
//!   client id it no longer has.
//!
//! # Moving slots to the cores that have time
//!
//! Moving connections (above) puts a starved shard's *parsing and
//! writing* on a shard with time, but its keys stay: every command on
//! them still crosses to the starved shard and waits for it, and a
//! command whose keys span both shards (a hot `MGET a b`, a hot `MSET`)
//! pays a transaction's round trips each time. So a starved shard also
//! hands its hash slots to the calm peer: the slots' keys go to the peer
//! and the slot map says so (`reactor/migrate.rs`). A command on a key
//! of a shard that lost its core waits for that core; run where the
//! connection is, it costs a third of a remote one (no batch, no ring,
//! no wake-up, no reply folding). So once another process takes a
//! shard's core, the server behaves as one with a shard fewer, and it
//! spreads out again when the core is free.
//!
//! **Which slot.** The map keeps two heat counters per slot
//! ([`SlotMap::heat`]; each count is a plain load and store, so two
//! reactors counting one slot may lose a count, which a sample can
//! afford): *routed* counts one key in eight that a reactor routes while
//! some shard is starved, *spanning* the keys of one command in eight
//! whose keys span shards. Every fifth sample (50 ms) a shard looks at
//! them, and shard 0 then halves them; a move clears them (the next move
//! is chosen on what follows it). At such a sample:
//! - a starved shard with a calm peer (the rule that moves connections)
//!   moves its hottest slot by routed heat to that peer;
//! - any other shard moves its hottest slot by spanning heat to the
//!   shard that waits least for its core (the lowest number among
//!   equals), when that is another one under 10 %: slots that commands
//!   use together across shards (a hot `MGET a b`, a hot `MSET`) end up
//!   on one shard, and their commands run there as one shard's, and
//!   stay there: once together, they take no spanning heat.
//!
//! Either way only a slot that took at least 1/64 of every count since
//! the last sample (and 64 counts) moves that way: a hot key's slot,
//! never a slot of a spread-out workload (each of 16,384 slots then
//! takes about 1/16,384).
//!
//! **All of a starved shard's slots.** At every sample with no move
//! under way (after its hottest slot, when one is hot), a starved shard
//! with a calm peer also hands the peer its slots in bulk, lowest first:
//! as many as hold about 4,096 keys (estimated from its key count over
//! the slots it owns), so that a move holds clients for a few
//! milliseconds whatever the store's size. The walk that finds a move's
//! keys (the store has no index by slot) finds those of the next 32 such
//! moves too, by slot, and notes their keys written meanwhile; each move
//! takes its part, and the next ones freeze without walking again (a
//! walk that no move used for a second is dropped). Once begun, the
//! hand-over goes on until the shard has no slot left, starved or not
//! (unless the peer starts handing its own over): one cut short by a
//! load that moved away would leave keys on both shards and connections
//! on both, each sending half its commands across. A shard whose core
//! another process takes thus ends with no slot and no connection, and
//! the peer serves every command as one shard's.
//! The service may refuse a bulk move (kevy-server does under
//! `maxmemory`, whose accounting follows memory by the thread that
//! allocated it); it is asked before the walk, and again at the hand-over.
//! Two guards keep connections and keys from chasing a load that moves
//! (a client the scheduler moves between cores every few hundred
//! milliseconds, as an unpinned `redis-benchmark` on a 2-core machine:
//! each shard in turn shares a core with it; with both guards off the
//! connections of such a run moved 3,000-8,000 times in 16 s, and every
//! move left a while in which connections and keys were on different
//! shards):
//! - *Lasting starvation.* A starved shard hands connections and slots
//!   over only once it waited for its core 20 % of its time on average
//!   over about 80 ms (a moving average of its busy samples). A load
//!   generator that joins a busy shard's core (here: about 28 % waiting,
//!   every sample) passes it after about 100 ms; a burst does not.
//!   A load that starts on an idle shard (none of the last 80 ms busy)
//!   is judged by its own samples instead: its first two or more that
//!   waited 20 % of their time on average hand it over, after about
//!   20 ms, to a calm peer, or, when both cores wait now and then (a
//!   client the scheduler moves between them at each wake-up, as an
//!   unpinned `redis-benchmark` beside two busy shards), to the peer
//!   that waited under half as long on average. Such a load was not
//!   moved here by the scheduler from a busy peer; waiting 100-400 ms
//!   for it made the first tests of an unpinned `redis-benchmark` run
//!   (50-70 ms each at `-P 16`) serve half their connections on the core
//!   the benchmark took.
//! - *Backoff.* A shard that took connections from a peer, or slots in
//!   bulk (any move of more than one slot), hands neither over, nor
//!   gives slots home, for a backoff, 1 s at first. A shard that does so
//!   within four backoffs of its take doubles it (up to 32 s): the load
//!   followed them, so they wait longer each time; eight quiet backoffs
//!   bring it back to 1 s. Meanwhile a load that sits on its core is the
//!   scheduler's to move: the other core is idle.
//!
//! **Connections go where the keys are.** A shard that owns no slot
//! (it handed them all over) hands every movable connection to the
//! calmest peer that owns slots and is not shedding, at each sample, as
//! it accepts them and as it answers them, backoff permitting: every
//! command such a connection sends would cross to another shard. So a
//! client that connects after the hand-over (a benchmark's next test,
//! a pool that reconnects) lands where the keys are, whichever
//! listener the kernel gave it to.
//!
//! **Going home.** While slots are away from their *home* (the shard
//! that owns them when a server starts), each shard measures its core's
//! *room* over windows of 200 ms: the share of the core that was idle
//! or its own (`/proc/stat`'s ticks for the CPU it is pinned to, and
//! its thread's run time). A shard that is not starved, not within its
//! backoff, and ran 70 % or
//! more of the last sample gives slots back, in bulk as above, to a home
//! whose core had 75 % room or more, that waits less than 10 % and is
//! not shedding or running a script. A light load stays where it is:
//! one core serves it at less cost per command. Whatever took the home's
//! core (a load generator, a neighbour) keeps the room under 75 % while
//! it runs, so the slots stay away until it is gone.
//!
//! A slot that arrived stays put for a second, at most one move runs at
//! a time in the server, and none starts while a shard runs a script
//! (its freeze would wait for the script).
//!
//! **How it moves: the world stops for a moment.** A move carries one
//! slot or a set of them ([`SlotSet`]); "the slot" below stands for all
//! of a move's slots. A move must never let
//! a command run on a shard that does not hold its keys, nor let two
//! commands of one connection run out of order. Rather than forward
//! commands that were routed under the old map, kevy moves a slot only
//! when nothing is in flight anywhere:
//!
//! 1. *Freeze.* The moving shard (the slot's owner) sets the mesh's
//!    freeze word (one move at a time, server-wide) and wakes every
//!    shard. While it is set, no reactor routes a keyed message: every
//!    connection's next command stays in its buffer, held as CLIENT
//!    PAUSE ALL holds it, and the commands the server issues itself
//!    wait. What is already under way goes on: commands in the rings
//!    run, transactions finish and release their locks, replies travel
//!    home.
//! 2. *Quiescence.* At the end of each iteration a frozen reactor
//!    publishes that it is idle when its coordinator has no transaction,
//!    its lock table holds and queues nothing, no batch waits to be
//!    pushed, nothing a desk took off a ring waits to run, and no script
//!    runs; it withdraws that at the start of its next iteration, before
//!    it pops anything. The mover reads every shard's flag and the
//!    push and pop counts of every ring twice in a row
//!    ([`crate::ring::Probe`]): when both readings agree, every flag is
//!    up and every ring is empty, nothing is on its way and nobody is
//!    working on anything, and nothing can start: the only messages a
//!    frozen shard sends unprompted (a blocked client's timeout
//!    withdrawing its waiter) name a waiter, never route a key.
//! 3. *Hand-over.* The mover checks that what it keeps about the slot's
//!    keys can go with them: no client WATCHes one (its registration
//!    stays with its version), and every client waiting on one waits on
//!    keys of this slot only ([`crate::Service::may_move_slots`] adds the
//!    service's conditions: kevy-server refuses while its append-only
//!    log is on or a snapshot is being written or loaded). If so it takes
//!    every key of the slot out of its store ([`crate::Service::take_slots`],
//!    through the store's update path, so client-side caching invalidates
//!    readers of them) and the waiters out of its queues (in their
//!    order), and sends both to the peer (`SlotIn`). The peer puts the
//!    keys in its store and the waiters in its queues, and tells each
//!    waiter's home that it serves that client now (`Rehome`: the home
//!    replaces the old owner in the client's wait; a client whose wait
//!    ended meanwhile, by a timeout whose withdrawal went to the old
//!    owner, answers `gone`, and its waiter goes). Once every home
//!    answered, it answers the mover (`SlotTaken`): no home can then
//!    refuse a wake-up from the new owner. Otherwise the move is called
//!    off.
//! 4. *Thaw.* On the answer the mover changes the slot's owner in the
//!    map, then clears the freeze word (release; a reactor reads it with
//!    acquire before it routes, so any command routed after the thaw
//!    sees the new owner) and wakes every shard, whose held connections
//!    run on.
//!
//! A move costs every shard a few wake-ups and holds every client for
//! that long (a few hundred microseconds for one slot with idle peers,
//! about 5 ms for a bulk move of 4,096 keys led by a starved shard;
//! longer behind
//! a transaction or a script that must finish first). It happens only
//! while a shard is starved, when a hot slot gathers with its partner,
//! or when slots go home, at most one move per shard at a time. It
//! crashes nothing that survives a crash: with no
//! append-only log, what is on disk is a snapshot, which places keys by
//! the map a server starts with.
//!
//! What does not move (and so keeps a slot where it is): WATCHed keys,
//! and keys a client waits on together with keys of other slots. A SCAN
//! that runs across a move may
//! miss keys of the moved slot when it had not reached the slot's old
//! shard and had passed its new one (README, "Differences").
//!
//! # Limits and fairness
//!
//! - No connection runs more than `conn::CMD_BUDGET` commands per
//!   iteration, and no ring delivers more than `mesh::RING_BUDGET`
//!   batches per iteration, so no source can hold a reactor.
//! - A connection whose output exceeds `conn::OUTPUT_SOFT_LIMIT` or
//!   whose outstanding replies exceed `conn::MAX_PENDING` is not read or
//!   parsed until it drains: a client that never reads cannot grow the
//!   server's memory without bound. The output counted is the unsent
//!   bytes, complete replies held behind earlier ones, and an estimate of
//!   the replies still travelling from other shards (the running size of
//!   the connection's remote replies, assumed large until the first
//!   arrives), so the limit holds whichever shard owns the keys.
//! - What the mesh keeps is bounded: a shard keeps at most a few drained
//!   batches for reuse, each trimmed to a fixed capacity; the reply pool
//!   keeps at most 2 MiB.
//! - A MONITOR that falls 64 MB behind is disconnected.
//!
//! # CLIENT LIST/KILL and MONITOR
//!
//! CLIENT LIST and KILL ask every shard for a [`ClientInfo`] of each of its
//! connections and hand them all to [`Service::exec_clients`]; KILL's reply
//! leaves only after every shard closed the connections chosen. MONITOR
//! lines are made when a command is dispatched on its home shard, so one
//! connection's commands appear in the order it sent them (a transaction's
//! at EXEC, then EXEC), and travel to the shards that have a monitor in
//! the batches going there.
//! - A query buffer larger than Redis's `client-query-buffer-limit` (1 GiB)
//!   closes the connection, as Redis does.
//!
//! # Access control
//!
//! The runtime knows no users. A connection whose `ClientCtx::checked`
//! is set takes the gated path, where [`Service::admit`] sees each command
//! (after the unknown-command and arity checks) and may refuse it; the
//! service sets the flag when a connection opens ([`Service::opened`],
//! which may also refuse it outright) and clears it for a connection with
//! every right, whose commands then cost nothing more. A change of the
//! rules is a [`Route::Clients`] command whose [`ClientsChosen::recheck`]
//! sets the flag on every connection of every shard before its reply
//! leaves, as a kill is applied, so each connection's next command meets
//! the new rules.
//! - A query buffer larger than `client-query-buffer-limit` (1 GiB by
//!   default) closes the connection, as Redis does.
//!
//! # Limits an operator changes at run time
//!
//! `maxclients` (counted over every shard's connections), `timeout` (idle
//! clients closed at a tick, except blocked ones, subscribers and
//! monitors), `tcp-keepalive` (set on each accepted TCP socket),
//! `client-query-buffer-limit` and `hz` (the tick rate) live in one shared
//! [`Limits`]: CONFIG SET stores the values and bumps a version, and each
//! reactor compares the version once per loop iteration and copies the
//! values when it moved. The hot path reads only the reactor's own copy.
//!
//! # Listeners
//!
//! Each TCP address (`bind`, several allowed) gets one `SO_REUSEPORT`
//! listener per shard; `port 0` means none. A Unix socket (`unixsocket`)
//! is one socket whose fd every reactor watches: whichever accepts a
//! connection serves it, like a TCP connection it accepted. The metrics
//! endpoint (`Bound::with_metrics`) is one more listener, on shard 0
//! only: plain HTTP, each request answered with [`Service::metrics`]'s page
//! and the connection closed, its connections bounded in number, request
//! size and idle time (`reactor/metrics.rs`).
//!
//! # Pausing clients (CLIENT PAUSE)
//!
//! A pause is one word in the mesh, its end (unix ms) and whether it holds
//! everything or only writes ([`Service::pause_holds`]); CLIENT PAUSE and
//! UNPAUSE are [`ConnAction`]s that set it. Every command pays one relaxed
//! load of it before it is dispatched. While it is set, a command it holds
//! stays unparsed in its connection's read buffer and the connection waits
//! in its reactor's paused list; each reactor lets its list go when the
//! pause has ended (its epoll timeout is bounded by the end) or when
//! UNPAUSE wakes every shard. Nothing already dispatched is held, so a
//! transaction in flight completes.
//!
//! # Dropped replies (CLIENT REPLY OFF / SKIP)
//!
//! The mode sends the connection's commands through the gated path, which
//! records the sequence number and output length before dispatching and
//! takes the reply back afterwards: from the output buffer, from its slot
//! when it waits behind others, or, when it is still on its way from
//! another shard, by number when it arrives (`ConnState::mute`). Replies
//! keep their order and every other command's reply is untouched.
#![deny(clippy::undocumented_unsafe_blocks)]

mod conn;
mod exec;
mod fold;
mod limits;
mod lock;
mod msg;
mod reactor;
pub mod ring;
mod service;
pub mod slot;
mod stats;

pub use exec::{Checkpoint, Effects, Pushes, Record, Share, Sink, TxTag};
pub use limits::{Balance, LimitValues, Limits};
pub use reactor::{bind, note_redirect, run, serve_while_busy, Bound, Config, Listen, UNIX_PEER};
pub use service::{
    ClientCtx, ClientInfo, ClientsChosen, ConnAction, ConnEvent, Fold, InMulti, OutputLimit,
    PartsFold, PubSubOp, Refused, ReplyMode, Route, Service, Tracking, TxOp, Wakes,
};
pub use slot::{shard_of, slot, Heat, SlotMap, SlotSet, SLOTS};
pub use stats::{ShardStats, Stats};
