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

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options. jemalloc reads the (prefixed) weak symbol
/// `malloc_conf` once, at its first allocation; this strong definition
/// replaces the library's empty default. It must be a NUL-terminated
/// string that lives for the whole program, which a `static` byte string
/// with a trailing NUL is; its layout is that of C's `const char *`
/// (a thin pointer to the first byte).
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

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
pub fn purge() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena.
    const NAME: &[u8] = b"arena.4096.purge\0";
    // SAFETY: NAME is a NUL-terminated C string that outlives the call;
    // the purge control reads and writes nothing, so every old/new pointer
    // is null and the length zero, as jemalloc requires for it.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            NAME.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    debug_assert_eq!(rc, 0, "arena purge failed");
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
            std::mem::size_of::<&'static [u8; 60]>(),
            std::mem::size_of::<*const u8>()
        );
    }

    #[test]
    fn stats_follow_an_allocation_and_name_the_version() {
        let before = super::stats().allocated;
        let big = vec![1u8; 64 << 20];
        let during = super::stats().allocated;
        assert!(during >= before + (60 << 20), "{before} -> {during}");
        drop(big);
        assert!(super::stats().allocated < during);
        super::purge();
        assert!(super::stats().resident < during + (4 << 20));
        assert!(
            super::name().starts_with("jemalloc-5."),
            "{}",
            super::name()
        );
    }

    #[test]
    fn allocations_work_through_jemalloc() {
        let v: Vec<u64> = (0..10_000).collect();
        assert_eq!(v.iter().sum::<u64>(), 49_995_000);
    }
}
