//! The point-in-time view without fork: [`Snapshot`] writes one shard's
//! section as the store was when [`Snapshot::start`] ran, a bounded number
//! of keys per [`Snapshot::step`], while the shard keeps serving writes.
//! The argument that the result is exactly the starting state is in the
//! module doc of [`super`] ("The fork-less snapshot").

use super::write::SectionWriter;
use kevy_store::{Dict, Entry, Observer, ScanOrder, Store};
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Write};
use std::rc::Rc;

/// One database's progress.
struct DbState {
    /// Where the walk of the keyspace continues.
    cursor: u64,
    /// Every key at the start has been written, or was found to have not
    /// existed: nothing more to do here.
    done: bool,
    /// Which keys the walk has passed, given its cursor.
    order: ScanOrder,
    /// Keys the walk has not passed whose starting state a write settled
    /// first: written, or known not to have existed at the start (created
    /// since). The walk skips and forgets each one it meets.
    ahead: HashSet<Box<[u8]>, ahash::RandomState>,
    /// `(keys, keys with a TTL)` at the start, for the RESIZEDB hint.
    sizes: (usize, usize),
}

impl DbState {
    /// Whether `key`'s starting state is already settled: its database is
    /// done, the walk has passed it, or a write settled it.
    fn settled(&self, key: &[u8]) -> bool {
        self.done || self.order.passed(self.cursor, key) || self.ahead.contains(key)
    }
}

/// What the walk and the observer share.
struct State<W: Write> {
    out: SectionWriter<W>,
    dbs: Vec<DbState>,
    /// The first write error; later work is skipped, and `step` reports it.
    err: Option<io::Error>,
    /// Keys written so far.
    written: u64,
}

impl<W: Write> State<W> {
    /// Writes `key`'s entry as it is now, its starting one.
    fn write(&mut self, db: usize, key: &[u8], e: &Entry) {
        if self.err.is_some() {
            return;
        }
        let sizes = self.dbs[db].sizes;
        let r = self
            .out
            .select(db, Some(sizes))
            .and_then(|()| self.out.key(db, key, e));
        match r {
            Ok(()) => self.written += 1,
            Err(e) => self.err = Some(e),
        }
    }

    /// Before the first write to `key` since the start: writes its
    /// starting entry `e` (if it exists) unless settled, and settles it.
    fn before_write(&mut self, db: usize, key: &[u8], e: Option<&Entry>) {
        let d = &mut self.dbs[db];
        if d.settled(key) {
            return;
        }
        d.ahead.insert(key.into());
        if let Some(e) = e {
            self.write(db, key, e);
        }
    }

    /// The walk meets `key`: writes it unless a write settled it first.
    fn walk(&mut self, db: usize, key: &[u8], e: &Entry) {
        if !self.dbs[db].ahead.remove(key) {
            self.write(db, key, e);
        }
    }

    /// Writes every unsettled key of `keys` (a database about to be
    /// flushed or swapped away, which still holds its starting entries for
    /// every unsettled key), and closes the database.
    fn settle_all(&mut self, db: usize, keys: &Dict<Entry>) {
        if self.dbs[db].done {
            return;
        }
        for (k, e) in keys.iter() {
            if !self.dbs[db].settled(k) {
                self.write(db, k, e);
            }
        }
        self.close(db);
    }

    fn close(&mut self, db: usize) {
        let d = &mut self.dbs[db];
        d.done = true;
        d.ahead = HashSet::default();
    }
}

/// The store's end of a snapshot: hears of every write before it happens.
struct Tap<W: Write>(Rc<RefCell<State<W>>>);

impl<W: Write + 'static> Observer for Tap<W> {
    fn before_write(&mut self, db: usize, key: &[u8], old: Option<&Entry>) {
        self.0.borrow_mut().before_write(db, key, old);
    }

    fn db_changed(&mut self, db: usize, change: kevy_store::DbChange<'_>) {
        let old = match change {
            kevy_store::DbChange::Flushed { old } => old,
            kevy_store::DbChange::Swapped { old, .. } => old,
        };
        self.0.borrow_mut().settle_all(db, old);
    }
}

/// A snapshot of one shard's store in progress, written as an RDB section
/// (see [`SectionWriter`]) to `W`. While it runs it is registered as an
/// observer of the store; one snapshot per writer type `W` at a time.
pub struct Snapshot<W: Write + 'static> {
    state: Rc<RefCell<State<W>>>,
    /// The next database the walk visits.
    db: usize,
}

impl<W: Write + 'static> Snapshot<W> {
    /// Starts a snapshot of `store` as it is now, to be written to `out`.
    pub fn start(store: &mut Store, out: W) -> Snapshot<W> {
        let dbs = (0..store.ndbs())
            .map(|i| {
                let sizes = store.db_counts(i);
                DbState {
                    cursor: 0,
                    done: sizes.0 == 0,
                    order: store.scan_order(i),
                    ahead: HashSet::default(),
                    sizes,
                }
            })
            .collect();
        let state = Rc::new(RefCell::new(State {
            out: SectionWriter::new(out),
            dbs,
            err: None,
            written: 0,
        }));
        store.observe(Tap(state.clone()));
        Snapshot { state, db: 0 }
    }

    /// Writes at least `budget` keys' worth of the walk (a bucket is never
    /// split, so a step may write a few more); returns true once every
    /// database is done, after which [`finish`](Self::finish) hands back
    /// the writer. The shard's loop calls it between batches of commands.
    pub fn step(&mut self, store: &Store, budget: usize) -> io::Result<bool> {
        let mut st = self.state.borrow_mut();
        let mut seen = 0;
        while self.db < st.dbs.len() && seen < budget.max(1) {
            if st.err.is_some() {
                break;
            }
            let db = self.db;
            if st.dbs[db].done {
                self.db += 1;
                continue;
            }
            let cursor = st.dbs[db].cursor;
            let next = store.scan_entries(db, cursor, |k, e| {
                seen += 1;
                st.walk(db, k, e);
            });
            st.dbs[db].cursor = next;
            if next == 0 {
                st.close(db);
                self.db += 1;
            }
        }
        if let Some(e) = st.err.take() {
            return Err(e);
        }
        Ok(self.db >= st.dbs.len())
    }

    /// Keys written so far.
    pub fn written(&self) -> u64 {
        self.state.borrow().written
    }

    /// Keys the snapshot holds a copy of now: those written to (or
    /// created) since the start that the walk has not reached yet, in the
    /// databases not done. Its memory beyond the writer's buffer is these.
    pub fn remembered(&self) -> usize {
        self.state.borrow().dbs.iter().map(|d| d.ahead.len()).sum()
    }

    /// Runs the snapshot to its end, detaches it from the store and hands
    /// back the writer, flushed.
    pub fn finish(mut self, store: &mut Store) -> io::Result<W> {
        while !self.step(store, usize::MAX)? {}
        self.detach(store);
        let state = Rc::try_unwrap(self.state)
            .map_err(|_| io::Error::other("snapshot state still shared"))?
            .into_inner();
        let mut w = state.out.into_inner();
        w.flush()?;
        Ok(w)
    }

    /// Abandons the snapshot: the store stops telling it about writes.
    pub fn cancel(self, store: &mut Store) {
        self.detach(store);
    }

    fn detach(&self, store: &mut Store) {
        store.unobserve::<Tap<W>>();
    }
}
