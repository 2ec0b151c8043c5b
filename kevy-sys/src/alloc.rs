//! The process allocator: jemalloc, as Redis ships. Its size classes carry
//! no per-allocation header, so the many small allocations of a keyspace
//! (key nodes, listpacks) fit tighter than in glibc's 16-byte-rounded chunks
//! with an 8-byte header, and fragmentation stays low under churn.
//!
//! Configured like Redis's defaults (`jemalloc-bg-thread yes`): a background
//! thread returns freed pages to the OS, so resident memory follows the data
//! rather than the peak of a rehash or a reallocation. Freed pages go back
//! within a second (`dirty_decay_ms:1000`, against jemalloc's 10 s: a shard
//! that frees a burst, such as a client's big replies, returns it promptly)
//! and with `MADV_DONTNEED` (`muzzy_decay_ms:0`), not `MADV_FREE`, which
//! Linux leaves counted in RSS until it needs the memory. The purging runs
//! on jemalloc's background thread, not on the reactors.
//!
//! One setting differs from Redis: the power-of-two size classes from 512
//! to 4096 bytes get 16 KB slabs (`slab_sizes`), where jemalloc's default
//! gives them one page, i.e. 8, 4, 2 and 1 objects per slab. Every slab
//! costs a 128-byte extent header from jemalloc's metadata, and jemalloc
//! never returns metadata to the OS: it keeps the headers for reuse. A
//! keyspace of a million 1000-byte values (the 1024-byte class) needs
//! 250,000 one-page slabs, 32 MB of headers that stay resident after the
//! keyspace is flushed; with 16 KB slabs, a quarter of that. 16 KB holds
//! each of these classes exactly (no tail waste) and is in line with the
//! neighbouring classes' defaults (640, 1280, 2560 and 5120 bytes have
//! 20 KB slabs of 32, 16, 8 and 4 objects), so fragmentation under churn
//! stays as it is between them.

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options. jemalloc reads the (prefixed) weak symbol
/// `malloc_conf` once, at its first allocation; this strong definition
/// replaces the library's empty default. It must be a NUL-terminated
/// string that lives for the whole program, which a `static` byte string
/// with a trailing NUL is; its layout is that of C's `const char *`
/// (a thin pointer to the first byte).
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 117] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,\
    slab_sizes:512-512:4|1024-1024:4|2048-2048:4|4096-4096:4\0";

/// What the allocator holds, in bytes, as INFO memory reports it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Bytes the program has allocated and not freed (Redis's
    /// `used_memory`, which Redis also takes from its allocator).
    pub allocated: u64,
    /// Bytes in pages with allocations in them (`allocator_active`).
    pub active: u64,
    /// Bytes of physical memory the allocator maps (`allocator_resident`).
    pub resident: u64,
    /// Bytes of address space the allocator keeps but has returned to the
    /// OS (not resident).
    pub retained: u64,
}

/// The allocator's current totals, over every thread. Refreshing them
/// costs a few microseconds (jemalloc merges its arenas' counters), so
/// this is for INFO and periodic checks, not for every command.
pub fn stats() -> Stats {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_err() {
        return Stats::default();
    }
    let get = |r: tikv_jemalloc_ctl::Result<usize>| r.unwrap_or(0) as u64;
    Stats {
        allocated: get(stats::allocated::read()),
        active: get(stats::active::read()),
        resident: get(stats::resident::read()),
        retained: get(stats::retained::read()),
    }
}

/// Returns every arena's unused dirty pages to the OS now, rather than
/// after the decay time: what a large free (FLUSHALL, FLUSHDB) calls, so
/// resident memory drops at once as it does in Redis.
///
/// It first empties the calling thread's cache. A thread cache keeps up to
/// a couple of hundred freed objects per size class for reuse, and after a
/// keyspace is dropped each of them is typically the last object of its
/// own slab: a few hundred cached 80-byte nodes pin a few hundred 20 KB
/// slabs, megabytes that no purge can return while they stay cached. Only
/// the calling thread's cache can be flushed, so each shard calls this on
/// its own thread after freeing its part.
pub fn purge() {
    // Neither control reads or writes a value.
    mallctl_void(b"thread.tcache.flush\0");
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena.
    mallctl_void(b"arena.4096.purge\0");
}

/// Runs the jemalloc control NAME (NUL-terminated) that takes and returns
/// nothing.
fn mallctl_void(name: &[u8]) {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: name is a NUL-terminated C string that outlives the call;
    // the controls passed here read and write nothing, so every old/new
    // pointer is null and the length zero, as jemalloc requires for them.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    debug_assert_eq!(rc, 0, "mallctl failed");
}

/// [`Stats::allocated`] alone, fresh: for a decision that needs the
/// process-wide figure now (`maxmemory`), at the cost of one epoch
/// advance and one read through controls looked up once per thread.
pub fn allocated() -> u64 {
    use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};
    thread_local! {
        static MIBS: Option<(epoch_mib, stats::allocated_mib)> =
            epoch::mib().ok().zip(stats::allocated::mib().ok());
    }
    MIBS.with(|m| match m {
        Some((e, a)) => {
            if e.advance().is_err() {
                return 0;
            }
            a.read().unwrap_or(0) as u64
        }
        None => stats().allocated,
    })
}

/// Bytes the calling thread has allocated, less the bytes it has freed
/// (wrapping: memory one thread allocates and another frees makes one
/// count run ahead and the other behind). Two loads through pointers
/// jemalloc gives each thread, looked up once per thread: cheap enough to
/// read before every write command, which is what `maxmemory` needs
/// between refreshes of the process-wide [`stats`].
#[inline]
pub fn thread_net() -> u64 {
    thread_local! {
        static COUNTERS: Option<ThreadCounters> = ThreadCounters::of_this_thread();
    }
    COUNTERS.with(|c| c.map_or(0, ThreadCounters::net))
}

/// The calling thread's allocation counters ([`thread_net`]), to keep
/// where the thread's own state is and read without a thread-local
/// lookup. Neither `Send` nor `Sync`: the pointers are the thread's own.
#[derive(Clone, Copy)]
pub struct ThreadCounters {
    allocated: tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
    deallocated: tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
}

impl ThreadCounters {
    pub fn of_this_thread() -> Option<ThreadCounters> {
        use tikv_jemalloc_ctl::thread::{allocatedp, deallocatedp};
        Some(ThreadCounters {
            allocated: allocatedp::read().ok()?,
            deallocated: deallocatedp::read().ok()?,
        })
    }

    /// [`thread_net`] of the thread these are of; called only there.
    #[inline(always)]
    pub fn net(self) -> u64 {
        self.allocated.get().wrapping_sub(self.deallocated.get())
    }
}

impl std::fmt::Debug for ThreadCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadCounters")
    }
}

/// jemalloc's statistics report (`malloc_stats_print`), the text Redis's
/// MEMORY MALLOC-STATS returns.
pub fn stats_text() -> String {
    extern "C" fn write(opaque: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        // SAFETY: `opaque` is the `String` passed below, alive and not
        // otherwise borrowed during the call; jemalloc hands `text` as a
        // NUL-terminated string valid for this call.
        let (out, text) = unsafe {
            (
                &mut *opaque.cast::<String>(),
                std::ffi::CStr::from_ptr(text),
            )
        };
        out.push_str(&text.to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: the callback matches jemalloc's `write_cb` type, `opaque`
    // points to `out` for the whole call, and a null options pointer asks
    // for the default report.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write),
            (&mut out as *mut String).cast(),
            std::ptr::null(),
        );
    }
    out
}

/// The allocator's name as Redis's INFO writes it: `jemalloc-5.3.0`.
pub fn name() -> String {
    let version = tikv_jemalloc_ctl::version::read().unwrap_or("unknown");
    let short = version.split('-').next().unwrap_or(version);
    format!("jemalloc-{short}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn malloc_conf_is_nul_terminated_and_thin() {
        let conf: &[u8] = &super::MALLOC_CONF[..];
        assert_eq!(conf.last(), Some(&0));
        assert!(!conf[..conf.len() - 1].contains(&0));
        // A reference to an array is a thin pointer, as `const char *` is.
        assert_eq!(
            std::mem::size_of::<&'static [u8; 117]>(),
            std::mem::size_of::<*const u8>()
        );
    }

    #[test]
    fn stats_follow_an_allocation_and_name_the_version() {
        // The figures are the whole process's, and the other tests of this
        // binary allocate and free beside this one: a round that they
        // disturbed is taken again, and one of a few must show it all.
        let mut seen = Vec::new();
        let followed = (0..20).any(|_| {
            let before = super::stats().allocated;
            let big = vec![1u8; 64 << 20];
            let during = super::stats().allocated;
            drop(big);
            let after = super::stats().allocated;
            super::purge();
            let resident = super::stats().resident;
            seen.push((before, during, after, resident));
            during >= before + (60 << 20) && after < during && resident < during + (4 << 20)
        });
        assert!(followed, "(before, during, after, resident): {seen:?}");
        assert!(
            super::name().starts_with("jemalloc-5."),
            "{}",
            super::name()
        );
    }

    /// Reads the jemalloc statistic or setting NAME (NUL-terminated).
    ///
    /// # Safety
    ///
    /// T must be the C type jemalloc documents for NAME.
    unsafe fn ctl<T: Copy>(name: &str) -> T {
        debug_assert!(name.ends_with('\0'));
        // SAFETY: the caller names T as jemalloc's type for the control.
        unsafe { tikv_jemalloc_ctl::raw::read::<T>(name.as_bytes()) }
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn power_of_two_classes_from_512_to_4096_have_16k_slabs() {
        // SAFETY: arenas.nbins is an unsigned, the bin sizes size_t.
        let nbins: u32 = unsafe { ctl("arenas.nbins\0") };
        let mut seen = 0;
        for i in 0..nbins {
            // SAFETY: as above.
            let size: usize = unsafe { ctl(&format!("arenas.bin.{i}.size\0")) };
            if [512, 1024, 2048, 4096].contains(&size) {
                // SAFETY: as above.
                let slab: usize = unsafe { ctl(&format!("arenas.bin.{i}.slab_size\0")) };
                assert_eq!(slab, 16 << 10, "slab of the {size}-byte class");
                seen += 1;
            }
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn purge_empties_the_calling_threads_cache() {
        std::thread::spawn(|| {
            // A fresh arena of this thread's own, so that its cache
            // statistic counts this thread's cache alone.
            // SAFETY: arenas.create yields an unsigned; thread.arena takes one.
            let arena: u32 = unsafe { ctl("arenas.create\0") };
            // SAFETY: as above.
            unsafe { tikv_jemalloc_ctl::raw::write(b"thread.arena\0", arena) }.unwrap();
            let name = format!("stats.arenas.{arena}.tcache_bytes\0");
            let cached = || {
                tikv_jemalloc_ctl::epoch::advance().unwrap();
                // SAFETY: the statistic is a size_t.
                unsafe { ctl::<usize>(&name) }
            };
            let nodes: Vec<Box<[u8; 80]>> = (0..100).map(|_| Box::new([0; 80])).collect();
            drop(nodes);
            assert!(cached() >= 80, "{} bytes cached", cached());
            super::purge();
            assert_eq!(cached(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn thread_net_follows_this_threads_allocations() {
        let before = super::thread_net();
        let big = vec![1u8; 8 << 20];
        let during = super::thread_net();
        assert!(during.wrapping_sub(before) >= 8 << 20);
        assert!(super::allocated() >= 8 << 20);
        drop(big);
        assert!(super::thread_net().wrapping_sub(before) < 1 << 20);
        let text = super::stats_text();
        assert!(text.contains("jemalloc statistics"), "{text}");
    }

    #[test]
    fn allocations_work_through_jemalloc() {
        let v: Vec<u64> = (0..10_000).collect();
        assert_eq!(v.iter().sum::<u64>(), 49_995_000);
    }
}
