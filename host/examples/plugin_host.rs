//! A plugin host: one process runs two plugins (instances of the guest program `plugin`)
//! under different policies and calls their functions while their loops keep serving.
//! The trusted plugin may connect to a server the host runs on loopback; the sandboxed one
//! may not, and the answer of its call says so. The host also provides a function of its
//! own, `user.lookup`, that the plugins call back; only the trusted one is granted it.
//! Exits 0 when every call got the answer it expects.
//!
//! Run it with `cargo run --release -p sandloop-host --example plugin_host` (it runs the
//! guest test program `plugin`, which the host's build compiles for wasm32-wasip2).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use sandloop_host::{CallError, HostFunctions, Policy, RunOptions, Runtime};

fn main() -> anyhow::Result<()> {
    let checks = run()?;
    let mut failed = 0;
    for check in &checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        println!("{mark} {}: {}", check.call, check.answer);
        failed += usize::from(!check.ok);
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} calls got an unexpected answer",
            checks.len()
        );
    }
    Ok(())
}

/// One call the host made and what came back.
pub struct Check {
    /// Which plugin, which function, which arguments.
    pub call: String,
    /// The answer or the error, as text.
    pub answer: String,
    /// Whether it is the answer the host expects.
    pub ok: bool,
}

fn check<T: std::fmt::Debug>(
    call: &str,
    result: Result<T, CallError>,
    expected: impl FnOnce(&Result<T, CallError>) -> bool,
) -> Check {
    let ok = expected(&result);
    let answer = match result {
        Ok(value) => format!("{value:?}"),
        Err(err) => format!("error: {err}"),
    };
    Check {
        call: call.into(),
        answer,
        ok,
    }
}

/// Starts the two plugins, makes the calls, stops the plugins; every call's check.
pub fn run() -> anyhow::Result<Vec<Check>> {
    // A service of the host's own on loopback: answers one line per connection.
    let service = TcpListener::bind("127.0.0.1:0")?;
    let port = service.local_addr()?.port();
    std::thread::spawn(move || {
        // Only the trusted plugin reaches it: one connection.
        if let Ok((stream, _)) = service.accept() {
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_ok() {
                let _ = (&stream).write_all(format!("pong: {line}").as_bytes());
            }
        }
    });

    let runtime = Runtime::new()?;
    let plugin = runtime.load(test_programs_artifacts::program("plugin"))?;
    // Both plugins serve their own echo server on loopback; only the trusted one may
    // connect, and only to the host's service.
    let listen = Policy::new().allow_listen("127.0.0.1:*")?;
    // The host's own function, offered to both; a plugin calls it only if its policy
    // grants the name. It answers from another thread, as an async application would
    // from its runtime; the plugin's loop goes on meanwhile.
    let functions = HostFunctions::new().add_json("user.lookup", |id: u64, reply| {
        std::thread::spawn(move || {
            reply.answer_json(Ok::<_, String>(format!("user{id}@example.com")))
        });
    });
    let start = |policy: Policy| {
        plugin.start(RunOptions {
            args: vec!["serve".into()],
            capture_output: true,
            policy,
            host_functions: functions.clone(),
            ..Default::default()
        })
    };
    let trusted = start(
        listen
            .clone()
            .allow_connect(&format!("127.0.0.1:{port}"))?
            .allow_host_function("user.lookup")?,
    )?;
    let sandboxed = start(listen)?;

    // Callers are Clone + Send + Sync; every call here gets at most 10 s.
    let to_trusted = trusted.caller().with_timeout(Duration::from_secs(10));
    let to_sandboxed = sandboxed.caller().with_timeout(Duration::from_secs(10));

    // Calls to both are in flight at once; each answer comes back to its own call.
    let sum = to_trusted.call::<i64>("add", &(40, 2));
    let greeting = to_sandboxed.call::<String>("greet", &"plugin host");
    let fetched = to_trusted.call::<String>("fetch", &(port, "hello"));
    let denied = to_sandboxed.call::<String>("fetch", &(port, "hello"));

    let mut checks = vec![
        check("trusted add(40, 2)", sum.wait(), |r| matches!(r, Ok(42))),
        check(
            "sandboxed greet(\"plugin host\")",
            greeting.wait(),
            |r| matches!(r, Ok(s) if s == "hello plugin host"),
        ),
        check(
            "trusted fetch(service)",
            fetched.wait(),
            |r| matches!(r, Ok(s) if s == "pong: hello"),
        ),
        check(
            "sandboxed fetch(service)",
            denied.wait(),
            |r| matches!(r, Err(CallError::Failed { message, .. }) if message.contains("denied")),
        ),
        check(
            "sandboxed nope()",
            to_sandboxed.call::<()>("nope", &()).wait(),
            |r| matches!(r, Err(CallError::NoSuchFunction { .. })),
        ),
    ];

    // The other direction: the plugins call the host's `user.lookup` back.
    checks.push(check(
        "trusted lookup(7) -> host user.lookup",
        to_trusted.call::<String>("lookup", &7).wait(),
        |r| matches!(r, Ok(s) if s == "user7@example.com"),
    ));
    checks.push(check(
        "sandboxed lookup(7) -> host user.lookup",
        to_sandboxed.call::<String>("lookup", &7).wait(),
        |r| matches!(r, Err(CallError::Failed { message, .. }) if message.contains("denied")),
    ));

    for (name, running, caller) in [
        ("trusted", trusted, to_trusted),
        ("sandboxed", sandboxed, to_sandboxed),
    ] {
        checks.push(check(
            &format!("{name} quit()"),
            caller.call::<String>("quit", &()).wait(),
            |r| matches!(r, Ok(s) if s == "bye"),
        ));
        let output = running.join()?;
        checks.push(Check {
            call: format!("{name} exit"),
            answer: format!("{:?}", output.status),
            ok: output.status.success(),
        });
    }
    Ok(checks)
}
