//! The guest side of the integration tests: each program in `src/bin/` holds named cases and
//! runs the one named by its first argument. A case asserts the behaviour itself (a failed
//! assertion panics, which traps the instance with the message) and may print lines the host
//! side checks.

use std::cell::RefCell;
use std::rc::Rc;

/// A named test case.
pub type Case = (&'static str, fn() -> sandloop::Result<()>);

/// Makes every new loop a `SelectorEventLoop` over the host's reactor (stream transports in
/// the readiness model) instead of the default completion model.
struct SelectorLoops;

impl sandloop::EventLoopPolicy for SelectorLoops {
    fn get_event_loop(&self) -> sandloop::EventLoop {
        thread_local! {
            static CURRENT: RefCell<Option<sandloop::EventLoop>> = const { RefCell::new(None) };
        }
        CURRENT.with(|c| {
            c.borrow_mut()
                .get_or_insert_with(|| self.new_event_loop())
                .clone()
        })
    }

    fn set_event_loop(&self, _lp: Option<sandloop::EventLoop>) {}

    fn new_event_loop(&self) -> sandloop::EventLoop {
        #[cfg(feature = "host-reactor")]
        let selector = sandloop::HostSelector::new();
        // The portable build's only selector (its loops are readiness-mode anyway).
        #[cfg(not(feature = "host-reactor"))]
        let selector = sandloop::WasiPollSelector::new();
        sandloop::SelectorEventLoop::new(selector)
    }
}

/// Runs the case named by `argv[1]`; exits 1 when it returns an error, 64 when unknown.
///
/// With `TEST_LOOP=selector` in the environment, loops are `SelectorEventLoop`s, so the
/// same cases test the readiness model of the transports.
pub fn dispatch(cases: &[Case]) {
    if std::env::var("TEST_LOOP").as_deref() == Ok("selector") {
        sandloop::set_event_loop_policy(Some(Rc::new(SelectorLoops)));
    }
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some((_, case)) = cases.iter().find(|(n, _)| *n == name) else {
        let known: Vec<_> = cases.iter().map(|(n, _)| *n).collect();
        eprintln!("unknown case {name:?}; known: {known:?}");
        std::process::exit(64);
    };
    if let Err(e) = case() {
        eprintln!("case {name} returned an error: {e}");
        std::process::exit(1);
    }
}

/// A shared, ordered record of what happened, for asserting orders of callbacks.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    pub fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Records `"<name> dropped"` when dropped: the cleanup of a coroutine that was cancelled.
pub struct DropGuard {
    pub log: Log,
    pub name: &'static str,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.log.push(format!("{} dropped", self.name));
    }
}

/// Declares `main` dispatching to the listed case functions by name.
///
/// Cases before `; checked:` only need to exit 0 quietly: tests/artifacts reads this list and
/// the host test of the program generates one `#[test]` for each (exit 0, nothing on stderr).
/// Cases after it are run by hand-written host tests that check what they print.
#[macro_export]
macro_rules! cases {
    ($($case:ident),* $(,)? $(; checked: $($checked:ident),+ $(,)?)?) => {
        fn main() {
            $crate::dispatch(&[
                $((stringify!($case), $case as fn() -> sandloop::Result<()>),)*
                $($((stringify!($checked), $checked as fn() -> sandloop::Result<()>),)+)?
            ]);
        }
    };
}

/// Polls `cond` every millisecond until it holds, at most `secs` seconds; panics (fails
/// the case) when it never does.
pub async fn until(secs: u64, mut cond: impl FnMut() -> bool) -> sandloop::Result<()> {
    for _ in 0..secs * 1000 {
        if cond() {
            return Ok(());
        }
        sandloop::sleep(std::time::Duration::from_millis(1)).await?;
    }
    panic!("condition not met within {secs} s");
}

/// Keeps the CPU busy for `d` without yielding: a callback slower than the loop's
/// `slow_callback_duration`.
pub fn busy(d: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {}
}
