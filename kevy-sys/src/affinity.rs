//! CPU pinning for thread-per-core: which cores this process may use, and binding a thread to one.
//!
//! Reads and sets the kernel's per-thread affinity mask (via `core_affinity`), so the result
//! honours cgroup/cpuset and `taskset` restrictions rather than assuming every core is free.

/// Ids of the cores this process may run on, ascending; empty if the mask cannot be read.
pub fn available_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Restricts the calling thread to `core`. Returns false if the kernel refuses (e.g. the core
/// is outside this process's cpuset), in which case the thread keeps its previous mask.
pub fn pin_current_thread(core: usize) -> bool {
    // core_affinity panics on ids that do not fit a cpu_set_t; report them as refused instead.
    if core >= libc::CPU_SETSIZE as usize {
        return false;
    }
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// Lets the calling thread run on any of `cpus` (and no other): Redis's
/// `server_cpulist`, a mask rather than one core. Returns false if the list
/// is empty, names a CPU beyond `CPU_SETSIZE`, or the kernel refuses; the
/// thread then keeps its previous mask.
pub fn restrict_current_thread(cpus: &[usize]) -> bool {
    if cpus.is_empty() || cpus.iter().any(|&c| c >= libc::CPU_SETSIZE as usize) {
        return false;
    }
    // SAFETY: cpu_set_t is a plain bit array for which all zeroes is the
    // empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: `c < CPU_SETSIZE` (checked above), so CPU_SET writes
        // inside `set`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; the kernel reads `size_of` bytes
    // from `&set`, which is that size and initialised.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_core_is_available() {
        let cores = available_cores();
        assert!(!cores.is_empty());
        assert!(cores.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn pinned_thread_runs_on_its_core() {
        let core = *available_cores().last().unwrap();
        std::thread::spawn(move || {
            assert!(pin_current_thread(core));
            // SAFETY: sched_getcpu takes no arguments and touches no caller memory.
            let cpu = syscall!(unsafe { libc::sched_getcpu() }).unwrap();
            assert_eq!(cpu as usize, core);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_restricted_thread_runs_only_on_its_cpus() {
        let cpus = available_cores();
        let last = *cpus.last().unwrap();
        std::thread::spawn(move || {
            assert!(restrict_current_thread(&[last]));
            assert_eq!(available_cores(), vec![last]);
            assert!(!restrict_current_thread(&[]));
            assert!(!restrict_current_thread(&[libc::CPU_SETSIZE as usize]));
            assert_eq!(available_cores(), vec![last]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pinning_to_a_missing_core_fails() {
        std::thread::spawn(|| {
            assert!(!pin_current_thread(libc::CPU_SETSIZE as usize));
            assert!(!pin_current_thread(usize::MAX));
        })
        .join()
        .unwrap();
    }
}
