//! What a process costs, read from `/proc`: resident memory and CPU time, of one process or
//! of one with its children (nginx's master and workers). Linux only.

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

/// The usage of `pid` and of its child processes, summed: for a server that forks workers.
/// RSS pages the processes share count once per process.
pub fn tree_usage(pid: u32) -> Result<Usage, Error> {
    let mut total = usage(pid)?;
    for child in children(pid)? {
        // A child that exits between the listing and its reading cost nothing more.
        if let Ok(usage) = usage(child) {
            total.rss_bytes += usage.rss_bytes;
            total.cpu += usage.cpu;
            total.open_files += usage.open_files;
        }
    }
    Ok(total)
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Result<Vec<u32>, Error> {
    let entries =
        std::fs::read_dir("/proc").map_err(|err| Error::Io(format!("reading /proc: {err}")))?;
    let pids = entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok());
    Ok(pids
        .filter(|&candidate| {
            let stat = std::fs::read_to_string(format!("/proc/{candidate}/stat"));
            stat.ok().and_then(|stat| parent_pid(&stat)) == Some(pid)
        })
        .collect())
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

/// How long this process's threads have waited, runnable, for a CPU the machine's other
/// work held: the second field of `/proc/self/task/<tid>/schedstat` (nanoseconds), summed
/// over the threads alive now. A load tool starved of CPU reads its sockets late, and the
/// events wait in its own receive queues: without this figure that lag passes for the
/// server's.
pub fn this_process_cpu_wait() -> Result<Duration, Error> {
    let tasks = std::fs::read_dir("/proc/self/task")
        .map_err(|err| Error::Io(format!("reading /proc/self/task: {err}")))?;
    let mut waited = 0;
    for task in tasks.filter_map(Result::ok) {
        // A thread that exits between the listing and its reading adds nothing.
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        waited += run_delay_ns(&schedstat).ok_or_else(|| {
            Error::Io(format!("{}/schedstat has an unexpected format", task.path().display()))
        })?;
    }
    Ok(Duration::from_nanos(waited))
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

/// The fields of a `/proc/<pid>/stat` text after the command name (field 2), which may hold
/// spaces and parentheses: so they are counted after its last `)`, from state (field 3) on.
fn fields_after_name(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// The parent's pid (field 4) of a `/proc/<pid>/stat` text.
fn parent_pid(stat: &str) -> Option<u32> {
    fields_after_name(stat)?.nth(1)?.parse().ok()
}

/// `utime + stime` of a `/proc/<pid>/stat` text, in clock ticks.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // After the name come state (field 3) … utime (14) and stime (15).
    let mut fields = fields_after_name(stat)?.skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The run delay (field 2: nanoseconds runnable without a CPU) of a `schedstat` text.
fn run_delay_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
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
        assert_eq!(parent_pid(stat), Some(1));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(parent_pid("4242 (x)"), None);
    }

    #[test]
    fn a_process_tree_counts_its_children() {
        // A shell waiting for the sleep it started: a parent with one child, both idle.
        let mut shell =
            std::process::Command::new("sh").args(["-c", "sleep 30 & wait"]).spawn().unwrap();
        let mut found = Vec::new();
        for _ in 0..100 {
            found = children(shell.id()).unwrap();
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (alone, tree) = (usage(shell.id()), tree_usage(shell.id()));
        for &child in &found {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        shell.kill().unwrap();
        shell.wait().unwrap();
        assert_eq!(found.len(), 1, "the shell's one child: {found:?}");
        let (alone, tree) = (alone.unwrap(), tree.unwrap());
        assert!(tree.rss_bytes > alone.rss_bytes, "{tree:?} {alone:?}");
        assert!(tree.open_files > alone.open_files, "{tree:?} {alone:?}");
    }

    #[test]
    fn reads_the_run_delay_of_a_schedstat() {
        assert_eq!(run_delay_ns("1816392541 7403211007 30419\n"), Some(7_403_211_007));
        assert_eq!(run_delay_ns("1816392541\n"), None);
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
        assert!(this_process_cpu_wait().is_ok());
    }
}
