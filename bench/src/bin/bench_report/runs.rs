//! The runs the harness recorded, and their summaries over repetitions.
//!
//! A CSV has a header line naming its columns, in any order:
//! `test,server,size,connections,rep,rate,mib_per_s,p50_us,p99_us,p999_us,server_user_us,
//! server_sys_us,server_cpu_pct,client_cpu_pct,errors`. `test` is `echo` (ping-pong),
//! `latency` (ping-pong over one connection), `connect` (connection rate) or `http`; `rate`
//! is messages, connections or requests per second; the CPU times are per message
//! (connection, request). `na` or an empty field is a value that was not available.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// One run: one server, one test, one size, one repetition.
pub struct Run {
    pub test: String,
    pub server: String,
    pub size: u64,
    pub connections: u64,
    pub rate: Option<f64>,
    pub mib_per_s: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub server_user_us: Option<f64>,
    pub server_sys_us: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    pub client_cpu_pct: Option<f64>,
    pub errors: u64,
}

pub fn read_csv(path: &Path) -> Result<Vec<Run>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: HashMap<&str, usize> = header
        .split(',')
        .enumerate()
        .map(|(i, name)| (name.trim(), i))
        .collect();
    let mut runs = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = |name: &str| -> Result<&str> {
            let Some(&i) = columns.get(name) else {
                bail!("{}: no column {name}", path.display());
            };
            Ok(fields.get(i).copied().unwrap_or(""))
        };
        let number = |name: &str| -> Result<Option<f64>> {
            match at(name)? {
                "" | "na" => Ok(None),
                text => text.parse().map(Some).with_context(|| {
                    format!("{} line {}: {name} = {text:?}", path.display(), n + 2)
                }),
            }
        };
        let count = |name: &str| -> Result<u64> { Ok(number(name)?.unwrap_or(0.0) as u64) };
        runs.push(Run {
            test: at("test")?.to_string(),
            server: at("server")?.to_string(),
            size: count("size")?,
            connections: count("connections")?,
            rate: number("rate")?,
            mib_per_s: number("mib_per_s")?,
            p50_us: number("p50_us")?,
            p99_us: number("p99_us")?,
            p999_us: number("p999_us")?,
            server_user_us: number("server_user_us")?,
            server_sys_us: number("server_sys_us")?,
            server_cpu_pct: number("server_cpu_pct")?,
            client_cpu_pct: number("client_cpu_pct")?,
            errors: count("errors")?,
        });
    }
    Ok(runs)
}

/// The median and the extremes of one value over the repetitions that have it.
#[derive(Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = Option<f64>>) -> Option<Spread> {
        let mut values: Vec<f64> = values.flatten().collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// The repetitions of one test, server and size.
pub struct Summary {
    pub test: String,
    pub server: String,
    pub size: u64,
    pub connections: u64,
    pub reps: usize,
    pub rate: Option<Spread>,
    pub mib_per_s: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub server_user_us: Option<Spread>,
    pub server_sys_us: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    pub client_cpu_pct: Option<f64>,
    /// Over all repetitions.
    pub errors: u64,
    /// This server's median rate over that of `mio` and of `uvloop` in the same test.
    pub vs_mio: Option<f64>,
    pub vs_uvloop: Option<f64>,
}

/// The order of the tests in the report; others follow in the order they appear.
const TESTS: [&str; 4] = ["echo", "latency", "connect", "http"];

/// Groups the runs into summaries, ordered by test, then size, then server in the order
/// the servers first appear in the runs (the order the harness ran them).
pub fn summarize(runs: &[Run]) -> Vec<Summary> {
    let mut tests: Vec<&str> = TESTS
        .into_iter()
        .filter(|test| runs.iter().any(|r| r.test == *test))
        .collect();
    let mut servers: Vec<&str> = Vec::new();
    for run in runs {
        if !tests.contains(&run.test.as_str()) {
            tests.push(&run.test);
        }
        if !servers.contains(&run.server.as_str()) {
            servers.push(&run.server);
        }
    }
    let index = |names: &[&str], name: &str| names.iter().position(|n| *n == name);
    let mut keys: Vec<(Option<usize>, u64, Option<usize>)> = runs
        .iter()
        .map(|r| (index(&tests, &r.test), r.size, index(&servers, &r.server)))
        .collect();
    keys.sort_unstable();
    keys.dedup();

    let mut summaries: Vec<Summary> = keys
        .into_iter()
        .filter_map(|(test, size, server)| {
            let (test, server) = (tests[test?], servers[server?]);
            let group: Vec<&Run> = runs
                .iter()
                .filter(|r| r.test == test && r.server == server && r.size == size)
                .collect();
            Some(summary(test, server, size, &group))
        })
        .collect();

    let rates: Vec<(String, u64, String, Option<f64>)> = summaries
        .iter()
        .map(|s| {
            (
                s.test.clone(),
                s.size,
                s.server.clone(),
                s.rate.map(|r| r.median),
            )
        })
        .collect();
    let rate_of = |test: &str, size: u64, server: &str| {
        rates
            .iter()
            .find(|(t, z, s, _)| t == test && *z == size && s == server)
            .and_then(|(.., rate)| *rate)
            .filter(|rate| *rate > 0.0)
    };
    for summary in &mut summaries {
        let Some(rate) = summary.rate.map(|r| r.median) else {
            continue;
        };
        summary.vs_mio = rate_of(&summary.test, summary.size, "mio").map(|base| rate / base);
        summary.vs_uvloop = rate_of(&summary.test, summary.size, "uvloop").map(|base| rate / base);
    }
    summaries
}

fn summary(test: &str, server: &str, size: u64, group: &[&Run]) -> Summary {
    let median =
        |f: fn(&Run) -> Option<f64>| Spread::of(group.iter().map(|r| f(r))).map(|s| s.median);
    Summary {
        test: test.to_string(),
        server: server.to_string(),
        size,
        connections: group.first().map_or(0, |r| r.connections),
        reps: group.len(),
        rate: Spread::of(group.iter().map(|r| r.rate)),
        mib_per_s: median(|r| r.mib_per_s),
        p50_us: median(|r| r.p50_us),
        p99_us: median(|r| r.p99_us),
        p999_us: median(|r| r.p999_us),
        server_user_us: Spread::of(group.iter().map(|r| r.server_user_us)),
        server_sys_us: median(|r| r.server_sys_us),
        server_cpu_pct: median(|r| r.server_cpu_pct),
        client_cpu_pct: median(|r| r.client_cpu_pct),
        errors: group.iter().map(|r| r.errors).sum(),
        vs_mio: None,
        vs_uvloop: None,
    }
}

/// A message size as people write it: `64 B`, `16 KiB`.
pub fn size_label(bytes: u64) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}
