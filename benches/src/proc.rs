//! What the load tools read about a server process from /proc: its CPU time,
//! and how its connections spread over its epoll instances (one per kevy
//! reactor), which tells which shard each connection landed on.

use std::collections::HashSet;
use std::fs;
use std::io;

/// utime + stime of process `pid` (`"self"` for this one), all threads, in
/// clock ticks: fields 14 and 15 of /proc/PID/stat, counted after the ")"
/// that ends the command name (which may hold spaces).
pub fn cpu_ticks(pid: &str) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .ok_or_else(|| bad(format!("/proc/{pid}/stat: no command name")))?;
    // After the name: state is field 3, so utime (14) is the 12th here.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let mut tick = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad(format!("/proc/{pid}/stat: no utime/stime")))
    };
    Ok(tick()? + tick()?)
}

/// CPU time spent busy by the whole machine, all CPUs, in clock ticks:
/// user + nice + system + irq + softirq + steal of /proc/stat's `cpu`
/// line (guest time is inside user). Less a run's server and tool time, it
/// is what everything else took meanwhile.
pub fn machine_busy_ticks() -> io::Result<u64> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| bad("/proc/stat: no cpu line".into()))?;
    let f: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    if f.len() < 8 {
        return Err(bad("/proc/stat: short cpu line".into()));
    }
    // user nice system idle iowait irq softirq steal
    Ok(f[0] + f[1] + f[2] + f[5] + f[6] + f[7])
}

/// Clock ticks per second of /proc's CPU times. Linux fixes USER_HZ at 100
/// on every architecture it exports to user space.
pub const CLK_TCK: u64 = 100;

/// For each epoll instance of process `pid`, in fd order, how many
/// established TCP connections it watches; instances watching none are left
/// out. A kevy reactor owns one instance and the connections it accepted, so
/// with `--cores N` this is the connection count of each shard.
pub fn conns_per_epoll(pid: u32) -> io::Result<Vec<usize>> {
    let established = established_inodes(pid)?;
    let mut epolls = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        let Ok(target) = fs::read_link(entry.path()) else {
            continue; // closed since the listing
        };
        if target.to_string_lossy() == "anon_inode:[eventpoll]" {
            if let Ok(fd) = entry.file_name().to_string_lossy().parse::<u32>() {
                epolls.push(fd);
            }
        }
    }
    epolls.sort_unstable();
    let mut out = Vec::new();
    for fd in epolls {
        let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        // "tfd:       12 events:       19 data: ... ino:5b3 sdev:8": the
        // watched fd and its inode (hex).
        let n = info
            .lines()
            .filter(|l| l.starts_with("tfd:"))
            .filter_map(|l| {
                l.split_ascii_whitespace()
                    .find_map(|w| w.strip_prefix("ino:"))
            })
            .filter_map(|ino| u64::from_str_radix(ino, 16).ok())
            .filter(|ino| established.contains(ino))
            .count();
        if n > 0 {
            out.push(n);
        }
    }
    Ok(out)
}

/// The socket inodes of the TCP connections in state ESTABLISHED in `pid`'s
/// network namespace (/proc/PID/net/tcp and tcp6: `st` 01, inode column 10).
fn established_inodes(pid: u32) -> io::Result<HashSet<u64>> {
    let mut set = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue; // no IPv6
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_ascii_whitespace().collect();
            if cols.len() > 9 && cols[3] == "01" {
                if let Ok(ino) = cols[9].parse() {
                    set.insert(ino);
                }
            }
        }
    }
    Ok(set)
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn own_cpu_time_grows() {
        let before = cpu_ticks("self").unwrap();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        // Spins until the count has grown by two ticks (20 ms of CPU),
        // however little of a core a busy machine gives this thread (100 ms
        // of wall time may hold less). A count that does not follow the
        // process's CPU time never grows, and fails at the deadline.
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let now = cpu_ticks("self").unwrap();
            if now >= before + 2 {
                break;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(30),
                "{before} -> {now} ticks in {:?}",
                t.elapsed()
            );
        }
    }

    #[test]
    fn machine_busy_time_covers_our_own() {
        let (m0, s0) = (machine_busy_ticks().unwrap(), cpu_ticks("self").unwrap());
        let t = std::time::Instant::now();
        let mut x = 0u64;
        // Until this process (with the other tests' threads) has run 20
        // ticks, however little of a core a busy machine gives it.
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            if cpu_ticks("self").unwrap() >= s0 + 20 {
                break;
            }
            assert!(t.elapsed() < std::time::Duration::from_secs(30));
        }
        let (m1, s1) = (machine_busy_ticks().unwrap(), cpu_ticks("self").unwrap());
        // A process's time is counted exactly, a CPU's at each tick by
        // what it was running then: over a few tens of ticks the two
        // differ by a few, and with two threads spinning on two CPUs the
        // CPUs' count has come out 11 against the process's 13. A machine
        // count that missed our own time would be far below three
        // quarters of it.
        assert!(
            4 * (m1 - m0) + 8 >= 3 * (s1 - s0),
            "machine {} < self {}",
            m1 - m0,
            s1 - s0
        );
    }

    #[test]
    fn counts_the_connections_an_epoll_watches() {
        let pid = std::process::id();
        let before = conns_per_epoll(pid).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let poller = kevy_sys::Poller::new().unwrap();
        let mut streams = Vec::new();
        for i in 0..7 {
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            use std::os::fd::AsRawFd;
            poller
                .add(
                    s.as_raw_fd(),
                    kevy_sys::Token(i),
                    kevy_sys::Interest::READABLE,
                )
                .unwrap();
            streams.push((c, s));
        }
        // The listener is not a connection; other tests' epolls may come
        // and go (conn's test watches 3), so look for ours: one instance
        // watching exactly 7.
        poller
            .add(
                std::os::fd::AsRawFd::as_raw_fd(&l),
                kevy_sys::Token(9),
                kevy_sys::Interest::READABLE,
            )
            .unwrap();
        let after = conns_per_epoll(pid).unwrap();
        assert!(after.contains(&7), "before {before:?}, after {after:?}");
    }
}

/// CPU clock readings at one moment, in ticks: the server's (given its
/// pid), this process's, and the whole machine's busy time.
#[derive(Clone, Copy)]
pub struct CpuSample {
    server: Option<u64>,
    client: u64,
    machine: u64,
}

impl CpuSample {
    /// Reads the clocks now; dies when the server's cannot be read.
    pub fn take(server_pid: Option<u32>) -> CpuSample {
        CpuSample {
            server: server_pid.map(|pid| {
                cpu_ticks(&pid.to_string())
                    .unwrap_or_else(|e| crate::cli::die(format_args!("/proc/{pid}: {e}")))
            }),
            client: cpu_ticks("self").unwrap_or(0),
            machine: machine_busy_ticks().unwrap_or(0),
        }
    }

    /// The CPU time spent from `start` to this sample.
    pub fn since(&self, start: &CpuSample) -> CpuUsage {
        let server = self.server.zip(start.server).map(|(a, b)| a - b);
        let client = self.client - start.client;
        // Everything else the machine ran meanwhile (other users of a
        // shared box); the per-process and per-CPU counts are sampled
        // apart, hence the saturation.
        let others = (self.machine - start.machine).saturating_sub(client + server.unwrap_or(0));
        CpuUsage {
            server,
            client,
            others,
        }
    }
}

/// CPU time over a run, in ticks.
#[derive(Clone, Copy)]
pub struct CpuUsage {
    /// The server's, when its pid was given.
    pub server: Option<u64>,
    /// This process's.
    pub client: u64,
    /// The rest of the machine's.
    pub others: u64,
}

impl CpuUsage {
    /// The server's, this tool's and the others' ticks as fields of a
    /// tab-separated line ("-" for the server's when unknown).
    pub fn fields(&self) -> String {
        let server = self.server.map_or("-".to_string(), |t| t.to_string());
        format!("{server}\t{}\t{}", self.client, self.others)
    }

    /// The report's CPU lines: the server's time per `unit` (`n` of them),
    /// and this tool's and the other processes' over a run of `secs`.
    pub fn write_report(
        &self,
        out: &mut impl io::Write,
        n: u64,
        unit: &str,
        secs: f64,
    ) -> io::Result<()> {
        let s = |t: u64| t as f64 / CLK_TCK as f64;
        if let Some(t) = self.server {
            writeln!(
                out,
                "  server CPU {:.2} s: {:.3} us per {unit}",
                s(t),
                s(t) * 1e6 / n.max(1) as f64
            )?;
        }
        writeln!(
            out,
            "  this tool's CPU {:.2} s ({:.0} % of the run); other processes' {:.2} s",
            s(self.client),
            s(self.client) / secs * 100.0,
            s(self.others)
        )
    }
}

/// `conns_per_epoll`'s counts as `a+b+…`, "-" when not read.
pub fn spread_text(spread: Option<&[usize]>) -> String {
    spread.map_or("-".to_string(), |v| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("+")
    })
}
