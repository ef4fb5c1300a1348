//! What a process costs, read from `/proc`: resident memory and CPU time. Linux only.

use crate::Error;
use std::time::Duration;

/// Resident memory and CPU time of a process at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    /// `VmRSS`, in bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Open file descriptors (sockets included).
    pub open_files: u64,
}

/// Reads `/proc/<pid>/status`, `/proc/<pid>/stat` and counts `/proc/<pid>/fd`.
pub fn usage(pid: u32) -> Result<Usage, Error> {
    let read = |file: &str| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::read_to_string(&path).map_err(|err| Error::Io(format!("reading {path}: {err}")))
    };
    let bad = |file: &str| Error::Io(format!("/proc/{pid}/{file} has an unexpected format"));
    let rss_bytes = vm_rss_bytes(&read("status")?).ok_or_else(|| bad("status"))?;
    let ticks = cpu_ticks(&read("stat")?).ok_or_else(|| bad("stat"))?;
    let cpu = ticks_to_duration(ticks, clock_ticks_per_sec()?);
    Ok(Usage { rss_bytes, cpu, open_files: open_files(pid)? })
}

/// How many file descriptors the process has open.
pub fn open_files(pid: u32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/fd");
    let entries =
        std::fs::read_dir(&path).map_err(|err| Error::Io(format!("reading {path}: {err}")))?;
    Ok(entries.count() as u64)
}

/// The CPU time the calling thread has used (`getrusage(RUSAGE_THREAD)`, microseconds).
pub fn this_thread_cpu() -> Result<Duration, Error> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_THREAD)
        .map_err(|err| Error::Io(format!("getrusage(RUSAGE_THREAD): {err}")))?;
    Ok(timeval(usage.user_time()) + timeval(usage.system_time()))
}

/// CPU time and peak resident memory of this whole process.
pub fn this_process() -> Result<(Duration, u64), Error> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF)
        .map_err(|err| Error::Io(format!("getrusage(RUSAGE_SELF): {err}")))?;
    let cpu = timeval(usage.user_time()) + timeval(usage.system_time());
    // Linux reports ru_maxrss in KiB.
    Ok((cpu, usage.max_rss() as u64 * 1024))
}

/// The first three fields of `/proc/loadavg`: runnable tasks over 1, 5 and 15 minutes.
pub fn load_average() -> Result<String, Error> {
    let text = std::fs::read_to_string("/proc/loadavg")
        .map_err(|err| Error::Io(format!("reading /proc/loadavg: {err}")))?;
    Ok(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn timeval(time: nix::sys::time::TimeVal) -> Duration {
    Duration::new(time.tv_sec() as u64, time.tv_usec() as u32 * 1000)
}

fn clock_ticks_per_sec() -> Result<u64, Error> {
    use nix::unistd::{SysconfVar, sysconf};
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => Ok(ticks as u64),
        other => Err(Error::Io(format!("sysconf(_SC_CLK_TCK) gave {other:?}"))),
    }
}

fn ticks_to_duration(ticks: u64, per_sec: u64) -> Duration {
    Duration::from_secs(ticks / per_sec)
        + Duration::from_nanos((ticks % per_sec) * 1_000_000_000 / per_sec)
}

/// `VmRSS:` of a `/proc/<pid>/status` text, in bytes (the file gives kB).
fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib * 1024)
}

/// `utime + stime` of a `/proc/<pid>/stat` text, in clock ticks. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come state (field 3) … utime (14) and stime (15).
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_in_bytes() {
        let status = "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_bytes(status), Some(5120 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_cpu_ticks_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 300 0 0 0 120 35 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(155));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn ticks_become_exact_durations() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
    }

    #[test]
    fn this_process_can_be_read() {
        let usage = usage(std::process::id()).unwrap();
        assert!(usage.rss_bytes > 0);
        assert!(usage.open_files >= 3, "stdin, stdout, stderr at least");
        assert!(this_thread_cpu().is_ok());
    }
}
