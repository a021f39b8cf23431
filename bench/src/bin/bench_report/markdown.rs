//! The summaries as markdown tables, one per test.

use std::fmt::Write as _;

use crate::runs::{Summary, size_label as size};

pub fn tables(summaries: &[Summary]) -> String {
    let mut out = String::new();
    let of =
        |test: &str| -> Vec<&Summary> { summaries.iter().filter(|s| s.test == test).collect() };
    let echo = of("echo");
    if let Some(first) = echo.first() {
        section(
            &mut out,
            &format!(
                "Echo throughput: {} connections, one message in flight each",
                first.connections
            ),
            &[
                "size",
                "server",
                "msgs/s",
                "min–max",
                "MiB/s",
                "p50 (us)",
                "p99 (us)",
                "p99.9 (us)",
                "server user (us/msg)",
                "server sys (us/msg)",
                "server CPU (%)",
                "client CPU (%)",
                "vs mio",
                "vs uvloop",
                "runs",
            ],
            echo.iter().map(|s| {
                vec![
                    size(s.size),
                    s.server.clone(),
                    rate(s),
                    spread(s),
                    decimal(s.mib_per_s, 1),
                    decimal(s.p50_us, 0),
                    decimal(s.p99_us, 0),
                    decimal(s.p999_us, 0),
                    decimal(s.server_user_us.map(|u| u.median), 2),
                    decimal(s.server_sys_us, 2),
                    decimal(s.server_cpu_pct, 0),
                    decimal(s.client_cpu_pct, 0),
                    decimal(s.vs_mio, 2),
                    decimal(s.vs_uvloop, 2),
                    runs(s),
                ]
            }),
        );
    }
    let latency = of("latency");
    if !latency.is_empty() {
        section(
            &mut out,
            "Latency: one connection, one message in flight",
            &[
                "size",
                "server",
                "p50 (us)",
                "p99 (us)",
                "p99.9 (us)",
                "msgs/s",
                "server user (us/msg)",
                "server sys (us/msg)",
                "vs mio",
                "runs",
            ],
            latency.iter().map(|s| {
                vec![
                    size(s.size),
                    s.server.clone(),
                    decimal(s.p50_us, 0),
                    decimal(s.p99_us, 0),
                    decimal(s.p999_us, 0),
                    rate(s),
                    decimal(s.server_user_us.map(|u| u.median), 2),
                    decimal(s.server_sys_us, 2),
                    decimal(s.vs_mio, 2),
                    runs(s),
                ]
            }),
        );
    }
    let connect = of("connect");
    if let Some(first) = connect.first() {
        let title = format!(
            "Connection rate: {} at a time, each: connect, one {} message and its echo, close (the client resets)",
            first.connections,
            size(first.size)
        );
        rate_section(&mut out, &title, "connections/s", "conn", &connect);
    }
    let http = of("http");
    if let Some(first) = http.first() {
        let title = format!(
            "HTTP: wrk, {} keep-alive connections, \"Hello, World!\"",
            first.connections
        );
        rate_section(&mut out, &title, "requests/s", "req", &http);
    }
    out
}

/// A heading and a table; columns after the first two are right-aligned numbers. A column
/// with no value in any row (`na` throughout, say "vs uvloop" without uvloop) is left out.
/// A table of rates with the server's CPU time per unit (a connection, a request): the
/// connection-rate and the HTTP runs.
fn rate_section(out: &mut String, title: &str, rate_name: &str, unit: &str, rows: &[&Summary]) {
    let user = format!("server user (us/{unit})");
    let sys = format!("server sys (us/{unit})");
    section(
        out,
        title,
        &[
            "server",
            rate_name,
            "min–max",
            "p50 (us)",
            "p99 (us)",
            &user,
            &sys,
            "server CPU (%)",
            "client CPU (%)",
            "vs mio",
            "vs uvloop",
            "runs",
        ],
        rows.iter().map(|s| {
            vec![
                s.server.clone(),
                rate(s),
                spread(s),
                decimal(s.p50_us, 0),
                decimal(s.p99_us, 0),
                decimal(s.server_user_us.map(|u| u.median), 2),
                decimal(s.server_sys_us, 2),
                decimal(s.server_cpu_pct, 0),
                decimal(s.client_cpu_pct, 0),
                decimal(s.vs_mio, 2),
                decimal(s.vs_uvloop, 2),
                runs(s),
            ]
        }),
    );
}

fn section(
    out: &mut String,
    title: &str,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) {
    let rows: Vec<Vec<String>> = rows.collect();
    let shown: Vec<usize> = (0..header.len())
        .filter(|&i| rows.iter().any(|row| row.get(i).is_some_and(|v| v != "na")))
        .collect();
    let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
    let _ = writeln!(out, "### {title}\n");
    out.push_str(&line(shown.iter().map(|&i| header[i]).collect()));
    out.push_str(&line(
        shown
            .iter()
            .map(|&i| match header[i] {
                "size" | "server" => "---",
                _ => "---:",
            })
            .collect(),
    ));
    for row in &rows {
        out.push_str(&line(
            shown
                .iter()
                .map(|&i| row.get(i).map_or("", String::as_str))
                .collect(),
        ));
    }
    out.push('\n');
}

/// The median rate, with thousands separators.
fn rate(s: &Summary) -> String {
    s.rate.map_or("na".into(), |r| thousands(r.median))
}

/// The rate's min–max over the runs.
fn spread(s: &Summary) -> String {
    s.rate.map_or("na".into(), |r| {
        format!("{}–{}", thousands(r.min), thousands(r.max))
    })
}

/// The number of runs, with the failed connections they had, if any.
fn runs(s: &Summary) -> String {
    if s.errors == 0 {
        s.reps.to_string()
    } else {
        format!("{} ({} errors)", s.reps, s.errors)
    }
}

fn decimal(value: Option<f64>, places: usize) -> String {
    value.map_or("na".into(), |v| format!("{v:.places$}"))
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}
