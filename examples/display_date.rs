//! The seed's second example: a callback prints the current date every second, rescheduling
//! itself with `call_later`, and stops the loop after 5 seconds.
//!
//! ```python
//! def display_date(end_time, loop):
//!     print(datetime.datetime.now())
//!     if (loop.time() + 1.0) < end_time:
//!         loop.call_later(1, display_date, end_time, loop)
//!     else:
//!         loop.stop()
//!
//! loop = asyncio.new_event_loop()
//! end_time = loop.time() + 5.0
//! loop.call_soon(display_date, end_time, loop)
//! try:
//!     loop.run_forever()
//! finally:
//!     loop.close()
//! ```
//!
//! The sandbox has no time-zone database, so the date printed is UTC, in the format of
//! Python's `datetime.datetime.now()` (`2026-11-25 21:40:00.123456`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sandloop::EventLoop;

fn display_date(end_time: f64, lp: EventLoop) {
    println!("{}", now_like_python());
    if lp.time() + 1.0 < end_time {
        let next = lp.clone();
        lp.call_later(Duration::from_secs(1), move || display_date(end_time, next));
    } else {
        lp.stop();
    }
}

fn main() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();

    // Schedule the first call to display_date().
    let end_time = lp.time() + 5.0;
    let lp2 = lp.clone();
    lp.call_soon(move || display_date(end_time, lp2));

    // Blocking call interrupted by lp.stop().
    let ran = lp.run_forever();
    lp.close()?;
    ran
}

/// The wall-clock time as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
fn now_like_python() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let in_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since_epoch.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
