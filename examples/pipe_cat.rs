//! `cat` through pipe transports, in upper case: the workload's stdin as a read pipe
//! transport, copied to its stdout as a write pipe transport; at the end of the input it
//! reports the line count on stderr. Flow control is asyncio's: when stdout's reader is
//! slow, the write transport pauses the copy (`pause_writing`), which pauses reading
//! stdin until the output drains. When stdout's reader goes away (`| head -c 100`), the
//! write transport's protocol gets `connection_lost` with a broken pipe, whether or not a
//! write was under way: the copy stops reading stdin and the example exits with 1, saying
//! so on stderr.
//!
//! ```text
//! printf 'hello\npipes\n' | cargo example pipe_cat
//! HELLO
//! PIPES
//! pipe_cat: 2 lines          (on stderr)
//! ```

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use sandloop::{Error, Protocol, ReadPipeTransport, WritePipeTransport, get_running_loop, os};

/// Reads stdin: each chunk goes to stdout in upper case.
struct Upper {
    out: WritePipeTransport,
    lines: Rc<Cell<usize>>,
    done: sandloop::Future<()>,
}

impl Protocol for Upper {
    fn data_received(&mut self, data: &[u8]) {
        self.lines
            .set(self.lines.get() + data.iter().filter(|&&b| b == b'\n').count());
        self.out.write(&data.to_ascii_uppercase());
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        // The end of stdin (or a failure): flush stdout and close it.
        self.out.close();
        // connection_lost runs once: the future is still pending.
        let _ = match exc {
            Some(err) => self.done.set_exception(err),
            None => self.done.set_result(()),
        };
    }
}

/// Writes stdout: pauses and resumes the reading of stdin as the output backs up, and
/// says when stdout took every byte and closed, or failed.
struct Output {
    input: Rc<RefCell<Option<ReadPipeTransport>>>,
    closed: sandloop::Future<()>,
}

impl Protocol for Output {
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = match exc {
            Some(err) => {
                // Nothing read from stdin can be written any more (its reader is gone):
                // stop reading it. Reading may be paused, waiting for a `resume_writing`
                // that will never come, so without this the copy would wait for ever.
                if let Some(input) = &*self.input.borrow() {
                    input.close();
                }
                self.closed.set_exception(err)
            }
            None => self.closed.set_result(()),
        };
    }

    fn pause_writing(&mut self) {
        if let Some(input) = &*self.input.borrow() {
            input.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(input) = &*self.input.borrow() {
            input.resume_reading();
        }
    }
}

fn main() -> sandloop::Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        let input = Rc::new(RefCell::new(None));
        let closed = lp.create_future::<()>();
        let (out, _) = {
            let (input, closed) = (input.clone(), closed.clone());
            lp.connect_write_pipe(move || Output { input, closed }, os::stdout()?)
                .await?
        };
        let lines = Rc::new(Cell::new(0));
        let done = lp.create_future::<()>();
        let (reader, _) = {
            let (out, lines, done) = (out.clone(), lines.clone(), done.clone());
            lp.connect_read_pipe(move || Upper { out, lines, done }, os::stdin()?)
                .await?
        };
        *input.borrow_mut() = Some(reader);
        let copied = async {
            done.await?;
            // stdout was closed at the end of stdin: wait until it took every byte.
            closed.await
        };
        match copied.await {
            Ok(()) => eprintln!("pipe_cat: {} lines", lines.get()),
            Err(Error::Os(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
                eprintln!("pipe_cat: stdout: broken pipe ({} lines read)", lines.get());
                sandloop::exit(1);
            }
            Err(err) => {
                eprintln!("pipe_cat: {err} ({} lines read)", lines.get());
                sandloop::exit(1);
            }
        }
        Ok::<_, Error>(())
    })
}
