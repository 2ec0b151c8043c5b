//! The process allocator: jemalloc, as Redis ships. Its size classes carry
//! no per-allocation header, so the many small allocations of a keyspace
//! (key nodes, listpacks) fit tighter than in glibc's 16-byte-rounded chunks
//! with an 8-byte header, and fragmentation stays low under churn.
//!
//! Configured like Redis's defaults (`jemalloc-bg-thread yes`): a background
//! thread returns freed pages to the OS, so resident memory follows the data
//! rather than the peak of a rehash or a reallocation.

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options. jemalloc reads the (prefixed) weak symbol
/// `malloc_conf` once, at its first allocation; this strong definition
/// replaces the library's empty default. It must be a NUL-terminated
/// string that lives for the whole program, which a `static` byte string
/// with a trailing NUL is; its layout is that of C's `const char *`
/// (a thin pointer to the first byte).
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 23] = b"background_thread:true\0";

#[cfg(test)]
mod tests {
    #[test]
    fn malloc_conf_is_nul_terminated_and_thin() {
        let conf: &[u8] = &super::MALLOC_CONF[..];
        assert_eq!(conf.last(), Some(&0));
        assert!(!conf[..conf.len() - 1].contains(&0));
        // A reference to an array is a thin pointer, as `const char *` is.
        assert_eq!(
            std::mem::size_of::<&'static [u8; 23]>(),
            std::mem::size_of::<*const u8>()
        );
    }

    #[test]
    fn allocations_work_through_jemalloc() {
        let v: Vec<u64> = (0..10_000).collect();
        assert_eq!(v.iter().sum::<u64>(), 49_995_000);
    }
}
