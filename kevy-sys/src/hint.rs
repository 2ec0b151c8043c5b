//! Hints to the CPU that change nothing a program computes.

/// Starts loading the cache line that holds `p` into every cache level
/// (PREFETCHT0), so that a load of it soon after does not wait on memory.
/// Safe whatever `p` is: a prefetch never faults and changes no
/// architectural state. A no-op off x86-64.
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults and has no architectural effect,
    // whatever the address; SSE, which it needs, is baseline on x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
