//! CPU time of the server and of the load generator over the measured window, from
//! /proc/PID/stat, and pinning the load generator to a core.

use std::fs;
use std::io;

/// CPU times of the server (when given) and of this process at one instant.
pub struct CpuSample {
    server: Option<CpuTimes>,
    client: Option<CpuTimes>,
}

impl CpuSample {
    /// Reads both processes' times now; a side that cannot be read is reported and left out.
    pub fn take(server_pid: Option<&str>) -> CpuSample {
        let read = |pid: &str| match CpuTimes::read(pid) {
            Ok(times) => Some(times),
            Err(err) => {
                eprintln!("echo_load: read /proc/{pid}/stat: {err}");
                None
            }
        };
        CpuSample {
            server: server_pid.and_then(read),
            client: read("self"),
        }
    }
}

/// CPU used over the window, in clock ticks.
pub struct CpuUse {
    pub server: Option<CpuTimes>,
    pub client: Option<CpuTimes>,
}

impl CpuUse {
    pub fn between(before: &CpuSample, after: &CpuSample) -> CpuUse {
        let diff = |a: Option<CpuTimes>, b: Option<CpuTimes>| {
            let (a, b) = (a?, b?);
            Some(CpuTimes {
                user_ticks: b.user_ticks.saturating_sub(a.user_ticks),
                system_ticks: b.system_ticks.saturating_sub(a.system_ticks),
            })
        };
        CpuUse {
            server: diff(before.server, after.server),
            client: diff(before.client, after.client),
        }
    }
}

/// A process's user and system CPU time (utime and stime of /proc/PID/stat), all threads.
#[derive(Clone, Copy)]
pub struct CpuTimes {
    pub user_ticks: u64,
    pub system_ticks: u64,
}

impl CpuTimes {
    fn read(pid: &str) -> io::Result<CpuTimes> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "unexpected format");
        // The command name (field 2) is in parentheses and may itself hold spaces and
        // parentheses; the fields after the last ')' start at field 3, `state`.
        let (_, rest) = stat.rsplit_once(')').ok_or_else(malformed)?;
        let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
        let mut next = || -> io::Result<u64> {
            fields
                .next()
                .and_then(|field| field.parse().ok())
                .ok_or_else(malformed)
        };
        Ok(CpuTimes {
            user_ticks: next()?,   // field 14, utime
            system_ticks: next()?, // field 15, stime
        })
    }

    pub fn user_seconds(&self) -> f64 {
        self.user_ticks as f64 / clock_ticks_per_second()
    }

    pub fn system_seconds(&self) -> f64 {
        self.system_ticks as f64 / clock_ticks_per_second()
    }
}

/// The unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Pins the calling thread (and the threads it spawns later) to core `cpu`.
#[cfg(target_os = "linux")]
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "core number out of range",
        ));
    }
    // SAFETY: `set` is a plain bit set, zeroed is its empty value, and CPU_SET stays in its
    // bounds (checked above); sched_setaffinity reads it for the calling thread.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn pin_to_cpu(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "CPU affinity is only set on Linux",
    ))
}
