//! How much of its core each shard could have (crate doc, "Room on the
//! cores"): a starved shard watches every shard's core in `/proc/stat`
//! while it is starved, and a shard's room over a window is its core's
//! idle time plus its own run time, per mille.
//!
//! `/proc/stat` counts in ticks (10 ms), so a window lasts until every
//! core watched has counted [`WINDOW_TICKS`]; it counts a core's current
//! idle spell too (the cpuidle state times in sysfs grow only when a
//! spell ends, and an idle core's spells last tens of ms, longer than a
//! window). A shard's run time is the mean of what it published at each
//! of the watcher's samples in the window (an idle shard samples seldom,
//! and runs next to nothing).

use std::os::unix::fs::FileExt;

/// Ticks every watched core counts before a window closes: at 10 ms a
/// tick, room is known to about a tenth.
pub(super) const WINDOW_TICKS: u64 = 10;
/// A tick of `/proc/stat`, in µs (`USER_HZ` is 100 on Linux).
const TICK_US: u64 = 10_000;

/// Idle and total ticks of each CPU, indexed by CPU.
pub(super) type Ticks = Vec<Option<(u64, u64)>>;

/// `/proc/stat`, kept open and read from its head: the kernel writes the
/// whole file for each read (every CPU's line and every interrupt's
/// count), which costs more the larger the machine, so a watch reads it
/// once a window, not once a sample.
#[derive(Default)]
pub(super) struct Stat {
    file: Option<std::fs::File>,
    opened: bool,
    buf: Vec<u8>,
}

impl Stat {
    /// The idle and total ticks of CPUs 0 to `upto`; `None` where the
    /// file cannot be read.
    pub fn ticks(&mut self, upto: usize) -> Option<Ticks> {
        if !self.opened {
            self.opened = true;
            self.file = std::fs::File::open("/proc/stat").ok();
        }
        // The per-CPU lines follow the total one.
        self.buf.resize(256 * (upto + 2), 0);
        let n = self.file.as_ref()?.read_at(&mut self.buf, 0).ok()?;
        Some(cpu_ticks(&self.buf[..n], upto))
    }
}

/// One shard's watch of the shards' cores.
#[derive(Default)]
pub(super) struct Watch {
    /// At the window's start: each CPU's ticks, and when it began (µs);
    /// and since then, the sum of each shard's published run and the
    /// samples that added to it.
    from: Option<(Ticks, u64)>,
    runs: Vec<u64>,
    samples: u64,
    /// Each shard's room over the last closed window; `None` until one
    /// has closed, and for a shard that is not pinned.
    room: Vec<Option<u64>>,
    /// `/proc/stat` could not be read: rooms stay unknown.
    pub blind: bool,
    stat: Stat,
}

impl Watch {
    /// One sample of the watch, at `now_us`: shard `j` is pinned to
    /// `cpus[j]` and ran `runs[j]` per mille of its last sample.
    /// `/proc/stat` is read when a window starts and once it may have
    /// counted [`WINDOW_TICKS`].
    pub fn sample(&mut self, now_us: u64, cpus: &[Option<usize>], runs: &[u64]) {
        let Some(upto) = cpus.iter().flatten().copied().max() else {
            return;
        };
        if let Some((_, since)) = &self.from {
            if now_us.saturating_sub(*since) < WINDOW_TICKS * TICK_US {
                self.add(runs);
                return;
            }
        }
        match self.stat.ticks(upto) {
            Some(ticks) => self.step(ticks, now_us, cpus, runs),
            None => self.blind = true,
        }
    }

    /// Forgets the watch: the next one starts afresh, and judges what the
    /// cores do then.
    pub fn reset(&mut self) {
        self.from = None;
        self.room.clear();
    }

    /// Shard `j`'s room over the last closed window, per mille.
    pub fn room(&self, j: usize) -> Option<u64> {
        self.room.get(j).copied().flatten()
    }

    /// Adds a sample's runs to the window's.
    fn add(&mut self, runs: &[u64]) {
        self.runs.resize(runs.len(), 0);
        for (sum, r) in self.runs.iter_mut().zip(runs) {
            *sum += r;
        }
        self.samples += 1;
    }

    /// [`Self::sample`] given the ticks `/proc/stat` shows at `now_us`:
    /// closes the window once every watched core has counted
    /// [`WINDOW_TICKS`].
    pub(super) fn step(&mut self, now: Ticks, now_us: u64, cpus: &[Option<usize>], runs: &[u64]) {
        if self.from.is_none() {
            self.from = Some((now, now_us));
            self.runs = vec![0; cpus.len()];
            self.samples = 0;
            return;
        }
        self.add(runs);
        let Some((from, _)) = &self.from else {
            return;
        };
        let delta = |c: usize| {
            let (i0, t0) = from.get(c).copied().flatten()?;
            let (i1, t1) = now.get(c).copied().flatten()?;
            Some((i1.saturating_sub(i0), t1.saturating_sub(t0)))
        };
        let counted = |c: &usize| delta(*c).is_none_or(|(_, t)| t >= WINDOW_TICKS);
        if !cpus.iter().flatten().all(counted) {
            return;
        }
        let samples = self.samples.max(1);
        self.room = cpus
            .iter()
            .zip(&self.runs)
            .map(|(cpu, run)| {
                let (idle, total) = delta((*cpu)?)?;
                let idle = idle.min(total) * 1000 / total.max(1);
                Some((idle + run / samples).min(1000))
            })
            .collect();
        self.from = Some((now, now_us));
        self.runs.fill(0);
        self.samples = 0;
    }
}

/// Idle (idle and iowait) and total ticks of CPUs 0 to `upto` in the
/// text of `/proc/stat` (`cpuN user nice system idle iowait irq softirq
/// steal ...`), indexed by CPU. Only the per-CPU lines need be there: a
/// large machine's file runs long, and is read up to them.
pub(super) fn cpu_ticks(text: &[u8], upto: usize) -> Ticks {
    let mut out = vec![None; upto + 1];
    let Ok(text) = std::str::from_utf8(text) else {
        return out;
    };
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let Some(cpu) = words
            .next()
            .and_then(|w| w.strip_prefix("cpu"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let v: Vec<u64> = words.take(8).map(|w| w.parse().unwrap_or(0)).collect();
        if let Some(slot) = out.get_mut(cpu) {
            if v.len() >= 5 {
                *slot = Some((v[3] + v[4], v.iter().sum()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(v: &[(u64, u64)]) -> Ticks {
        v.iter().copied().map(Some).collect()
    }

    #[test]
    fn a_cores_ticks_are_read_from_its_line() {
        let text = b"cpu  10 0 5 100 3 0 2 0 0 0\ncpu0 4 0 2 60 1 0 1 0 0 0\ncpu1 6 0 3 40 2 0 1 0 0 0\nintr 1 2 3\n";
        assert_eq!(
            cpu_ticks(text, 2),
            vec![Some((61, 68)), Some((42, 52)), None]
        );
        // cpu1 is not cpu10; a CPU past `upto` is left out.
        let ten = b"cpu10 1 0 1 5 0 0 0 0\ncpu1 2 0 2 6 1 0 0 0\n";
        assert_eq!(cpu_ticks(ten, 1), vec![None, Some((7, 11))]);
        if let Some(t) = Stat::default().ticks(0) {
            let (idle, total) = t[0].expect("cpu0");
            assert!(idle <= total && total > 0);
        }
    }

    #[test]
    fn a_shards_room_is_its_cores_idle_time_and_its_own_run() {
        // Shard 0 on CPU 1, shard 1 on CPU 2, shard 2 not pinned.
        let cpus = [Some(1), Some(2), None];
        let mut w = Watch::default();
        w.step(
            at(&[(0, 0), (100, 100), (100, 100)]),
            0,
            &cpus,
            &[900, 0, 0],
        );
        assert_eq!((w.room(0), w.room(1)), (None, None));
        // CPU 2 has counted only 9 ticks: the window stays open.
        w.step(
            at(&[(0, 0), (101, 110), (101, 109)]),
            90_000,
            &cpus,
            &[600, 0, 0],
        );
        assert_eq!(w.room(0), None);
        // Both have counted 10 or more. CPU 1 was idle 2 of 10 ticks and
        // its shard ran 700 (the mean of its samples since the window
        // began); CPU 2, idle 1 of 10, was another process's.
        w.step(
            at(&[(0, 0), (102, 110), (101, 110)]),
            100_000,
            &cpus,
            &[800, 0, 0],
        );
        assert_eq!(
            (w.room(0), w.room(1), w.room(2)),
            (Some(900), Some(100), None)
        );
        // The next window starts there, and counts its own runs.
        w.step(
            at(&[(0, 0), (112, 120), (111, 120)]),
            200_000,
            &cpus,
            &[100, 200, 0],
        );
        assert_eq!((w.room(0), w.room(1)), (Some(1000), Some(1000)));
        w.reset();
        assert_eq!(w.room(0), None);
    }
}
