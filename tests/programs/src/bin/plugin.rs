//! A plugin: a workload whose loop exports functions an embedding application calls
//! (host/tests/calls.rs, host/examples/plugin_host.rs), while it serves a TCP echo server
//! and ticks a timer.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sandloop::streams::{StreamReader, StreamWriter, open_connection, start_server};
use sandloop::{Error, Event, EventLoop, ServerOptions};
use test_programs::cases;

cases!(; checked: serve);

sandloop::jobs! {
    /// `add` as an executor job: the peer of the calls benchmark (bench/src/bin/calls.rs)
    /// calls it as a plain typed function of the component.
    fn add_job(pair: (i64, i64)) -> Result<i64, String> {
        Ok(pair.0 + pair.1)
    }
}

/// Counts the calls whose task was dropped before it finished (cancelled).
struct CountDrop {
    count: Rc<Cell<u64>>,
    finished: bool,
}

impl CountDrop {
    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for CountDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.count.set(self.count.get() + 1);
        }
    }
}

/// Exports the plugin's functions, starts an echo server on a free loopback port and a
/// 1 ms ticker, and serves until `quit` is called.
fn serve() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    export(&lp);
    // Every function is exported before the loop first runs (calls made earlier wait in
    // the inbox until then): `echo_port` waits for the server.
    let port = Rc::new(Cell::new(0u16));
    let listening = Event::new();
    lp.export_function("echo_port", {
        let (port, listening) = (Rc::clone(&port), listening.clone());
        move |()| {
            let (port, listening) = (Rc::clone(&port), listening.clone());
            async move {
                listening.wait().await?;
                Ok::<_, Error>(port.get())
            }
        }
    });
    let ticks = Rc::new(Cell::new(0u64));
    lp.export_function("ticks", {
        let ticks = Rc::clone(&ticks);
        move |()| {
            let ticks = Rc::clone(&ticks);
            async move { ticks.get() }
        }
    });
    let server = lp.run_until_complete(start_server(
        async |reader: StreamReader, writer: StreamWriter| {
            while let Some(line) = reader.next_line().await? {
                writer.write(&line);
                writer.drain().await?;
            }
            Ok::<_, Error>(())
        },
        "127.0.0.1",
        0,
        ServerOptions::default(),
    ))?;
    port.set(server.port()?);
    listening.set();
    tick(&lp, ticks);
    println!("serving");
    lp.run_forever()?;
    server.close();
    lp.close()
}

/// A timer that counts every millisecond: the loop's own work between calls.
fn tick(lp: &EventLoop, ticks: Rc<Cell<u64>>) {
    let again = lp.clone();
    lp.call_later(Duration::from_millis(1), move || {
        ticks.set(ticks.get() + 1);
        tick(&again, ticks);
    });
}

fn export(lp: &EventLoop) {
    lp.export_function("add", |(a, b): (i64, i64)| async move { a + b });
    lp.export_raw_function("reverse", |mut bytes: Vec<u8>| async move {
        bytes.reverse();
        bytes
    });
    // Answers `value` after `ms`: calls finish out of order, each with its own answer.
    lp.export_function("sleep_then", |(ms, value): (u64, u64)| async move {
        sandloop::sleep(Duration::from_millis(ms)).await?;
        Ok::<_, Error>(value)
    });
    lp.export_function("fail", |message: String| async move {
        Err::<(), _>(Error::other(message))
    });
    lp.export_function("greet", |name: String| async move {
        Ok::<_, Error>(format!("hello {name}"))
    });
    // Never answers; counts itself when its task is cancelled.
    let cancelled = Rc::new(Cell::new(0u64));
    let count = Rc::clone(&cancelled);
    lp.export_function("stuck", move |()| {
        let guard = CountDrop {
            count: Rc::clone(&count),
            finished: false,
        };
        async move {
            sandloop::sleep(Duration::from_secs(3600)).await?;
            guard.finish();
            Ok::<_, Error>(())
        }
    });
    lp.export_function("cancelled", move |()| {
        let cancelled = Rc::clone(&cancelled);
        async move { cancelled.get() }
    });
    lp.export_function("panic", |message: String| async move {
        sandloop::sleep(Duration::from_millis(1)).await?;
        panic!("{message}");
        #[allow(unreachable_code)]
        Ok::<_, Error>(())
    });
    // Connects to 127.0.0.1:`port`, sends a line and answers with the reply: what the
    // workload's policy allows shows in the answer (a denial is the call's error).
    lp.export_function("fetch", |(port, line): (u16, String)| async move {
        let (reader, writer) = open_connection("127.0.0.1", port, Default::default()).await?;
        writer.write(format!("{line}\n").as_bytes());
        writer.drain().await?;
        let reply = reader.readline().await?;
        writer.close();
        Ok::<_, Error>(String::from_utf8_lossy(&reply).trim_end().to_string())
    });
    // Asks the embedding application: its host function `user.lookup`, under the
    // workload's policy (a name it does not grant is the call's error).
    lp.export_function("lookup", |id: u64| async move {
        sandloop::host_functions::call::<_, String>("user.lookup", &id).await
    });
    let stopper = lp.clone();
    lp.export_function("quit", move |()| {
        // Stops after this call's answer went out (the answer is sent as the task ends).
        stopper.call_soon({
            let lp = stopper.clone();
            move || lp.stop()
        });
        async { "bye" }
    });
}
