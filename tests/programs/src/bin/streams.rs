//! Streams (`sandloop::streams`), after CPython's `test_streams.py`: the reader on fed data
//! (no network), then readers and writers over real loopback TCP with `start_server` and
//! `open_connection`, and the `futures-io` traits.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use sandloop::streams::{
    Connection, IncompleteReadError, LimitOverrunError, StreamReader, StreamWriter,
    open_connection, open_connection_with_limit, start_server,
};
use sandloop::{
    ConnectOptions, Error, EventLoop, ExceptionContext, ExtraInfo, HostSelector, Result,
    SelectorEventLoop, Server, ServerOptions, create_task, sleep,
};
use test_programs::Log;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Lets every task that is ready run a step (and what they schedule run too).
async fn yield_a_few_times() -> Result<()> {
    for _ in 0..3 {
        sleep(Duration::ZERO).await?;
    }
    Ok(())
}

/// Feeds `chunks` one per loop iteration, then EOF if `eof`.
fn feed_later(reader: &StreamReader, chunks: &[&'static [u8]], eof: bool) {
    let reader = reader.clone();
    let chunks = chunks.to_vec();
    create_task(async move {
        for chunk in chunks {
            sleep(Duration::ZERO).await?;
            reader.feed_data(chunk);
        }
        if eof {
            reader.feed_eof();
        }
        Ok::<_, Error>(())
    });
}

fn kind_of(err: &Error) -> Option<io::ErrorKind> {
    match err {
        Error::Os(e) => Some(e.kind()),
        _ => None,
    }
}

/// Byte `i` of a deterministic stream that differs with `seed` and position, so that a
/// shifted, lost or repeated chunk shows.
fn pattern_byte(seed: u8, i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i / 251)) as u8 ^ seed
}

fn pattern(seed: u8, offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| pattern_byte(seed, i))
        .collect()
}

#[track_caller]
fn assert_pattern(data: &[u8], seed: u8, len: usize) {
    assert_eq!(data.len(), len, "length");
    if let Some(i) = (0..len).find(|&i| data[i] != pattern_byte(seed, i)) {
        panic!("first differing byte at offset {i}");
    }
}

/// Runs `main` on a `SelectorEventLoop` over the host's reactor, whose transports work in
/// the readiness model (the guest reads, writes and buffers itself) instead of the
/// completion model of the default loop: streams must behave the same on both.
fn run_on_a_selector_loop(main: impl Future<Output = Result<()>> + 'static) -> Result<()> {
    let lp = SelectorEventLoop::new(HostSelector::new());
    sandloop::set_event_loop(Some(lp.clone()));
    let result = lp.run_until_complete(main);
    sandloop::set_event_loop(None);
    lp.close()?;
    result
}

/// The port a server listens on.
fn port_of(server: &Server) -> Result<u16> {
    server.port()
}

/// Closes the server and waits until its connections are gone too.
async fn shut_down(server: Server) -> Result<()> {
    server.close();
    sandloop::timeout(Duration::from_secs(10), server.wait_closed()).await
}

/// Sends `len` bytes of `pattern(seed)` in 64 KiB chunks, draining after each.
async fn send_pattern(writer: &StreamWriter, seed: u8, len: usize) -> Result<()> {
    const CHUNK: usize = 64 * 1024;
    let mut sent = 0;
    while sent < len {
        let n = CHUNK.min(len - sent);
        writer.write(&pattern(seed, sent, n));
        writer.drain().await?;
        sent += n;
    }
    Ok(())
}

// ---- The reader on fed data --------------------------------------------------------------

fn read_returns_at_most_n_buffered_bytes() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"line1\nline2\n");
        assert_eq!(r.read(5).await?, b"line1");
        assert_eq!(r.read(100).await?, b"\nline2\n");
        Ok::<_, Error>(())
    })
}

fn read_zero_returns_nothing_without_waiting() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        assert_eq!(r.read(0).await?, b"");
        r.feed_data(b"data");
        assert_eq!(r.read(0).await?, b"");
        assert_eq!(r.read(4).await?, b"data");
        Ok::<_, Error>(())
    })
}

fn read_waits_for_data_fed_later() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        feed_later(&r, &[b"chunk"], false);
        assert_eq!(r.read(30).await?, b"chunk");
        Ok::<_, Error>(())
    })
}

fn read_to_end_collects_every_chunk_until_eof() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"ab");
        feed_later(&r, &[b"cd", b"", b"ef"], true);
        assert_eq!(r.read_to_end().await?, b"abcdef");
        assert!(r.at_eof());
        assert_eq!(r.read(10).await?, b"", "after EOF, reads are empty");
        assert_eq!(r.read_to_end().await?, b"");
        Ok::<_, Error>(())
    })
}

fn at_eof_is_true_only_after_eof_with_an_empty_buffer() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        assert!(!r.at_eof());
        r.feed_data(b"some data\n");
        assert!(!r.at_eof());
        r.readline().await?;
        assert!(!r.at_eof());
        r.feed_data(b"some data\n");
        r.feed_eof();
        assert!(!r.at_eof(), "EOF fed but data left");
        r.readline().await?;
        assert!(r.at_eof());
        Ok::<_, Error>(())
    })
}

fn readline_returns_lines_then_the_rest_at_eof() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"line1\nline2\nrest");
        r.feed_eof();
        assert_eq!(r.readline().await?, b"line1\n");
        assert_eq!(r.readline().await?, b"line2\n");
        assert_eq!(r.readline().await?, b"rest");
        assert_eq!(r.readline().await?, b"");
        assert_eq!(r.readline().await?, b"");
        Ok::<_, Error>(())
    })
}

fn readline_waits_for_the_separator_across_chunks() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"chunk1 ");
        feed_later(&r, &[b"chunk2 ", b"chunk3 ", b"\n chunk4"], false);
        assert_eq!(r.readline().await?, b"chunk1 chunk2 chunk3 \n");
        assert_eq!(r.read(100).await?, b" chunk4");
        Ok::<_, Error>(())
    })
}

fn readline_over_the_limit_discards_the_long_line() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::with_limit(3);
        r.feed_data(b"li");
        r.feed_data(b"ne1\nline2\n");
        let err = r
            .readline()
            .await
            .expect_err("line1 is longer than the limit");
        assert_eq!(kind_of(&err), Some(io::ErrorKind::InvalidData));
        assert!(LimitOverrunError::find(&err).is_some());
        // What follows the long line stays.
        r.feed_eof();
        assert_eq!(r.read_to_end().await?, b"line2\n");

        // Data arriving while readline waits, with the separator past the limit.
        let r = StreamReader::with_limit(7);
        let fed = r.clone();
        sandloop::get_running_loop()?.call_soon(move || {
            fed.feed_data(b"chunk1");
            fed.feed_data(b"chunk2");
            fed.feed_data(b"chunk3\n");
            fed.feed_eof();
        });
        let err = r.readline().await.expect_err("over the limit");
        assert!(LimitOverrunError::find(&err).is_some(), "{err}");
        assert_eq!(r.read_to_end().await?, b"");
        Ok::<_, Error>(())
    })
}

fn readline_over_the_limit_without_a_separator_discards_the_buffer() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::with_limit(3);
        r.feed_data(b"li");
        r.feed_data(b"ne1");
        r.feed_data(b"li");
        let err = r
            .readline()
            .await
            .expect_err("no separator within the limit");
        let overrun = LimitOverrunError::find(&err).expect("a LimitOverrunError");
        assert_eq!(overrun.consumed, 7);
        r.feed_data(b"ok\n");
        assert_eq!(r.readline().await?, b"ok\n", "the buffer was emptied");
        Ok::<_, Error>(())
    })
}

fn readuntil_finds_a_multi_byte_separator_across_chunks() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"lineAAA");
        assert_eq!(r.readuntil(b"AAA").await?, b"lineAAA");
        r.feed_data(b"lineAAAxxx");
        assert_eq!(r.readuntil(b"AAA").await?, b"lineAAA");
        assert_eq!(r.read(10).await?, b"xxx");

        // The separator split over chunks, and a partial match before the real one.
        r.feed_data(b"QWEaa");
        feed_later(&r, &[b"XYaa", b"a"], false);
        assert_eq!(r.readuntil(b"aaa").await?, b"QWEaaXYaaa");
        r.feed_data(b"aa");
        feed_later(&r, &[b"a"], false);
        assert_eq!(r.readuntil(b"aaa").await?, b"aaa");
        Ok::<_, Error>(())
    })
}

fn readuntil_at_eof_gives_incomplete_read_with_the_rest() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"some dataAA");
        r.feed_eof();
        let err = r
            .readuntil(b"AAA")
            .await
            .expect_err("no separator before EOF");
        assert_eq!(kind_of(&err), Some(io::ErrorKind::UnexpectedEof));
        let short = IncompleteReadError::find(&err).expect("an IncompleteReadError");
        assert_eq!(short.partial, b"some dataAA");
        assert_eq!(short.expected, None);
        assert!(r.at_eof(), "the buffer was handed over");
        Ok::<_, Error>(())
    })
}

fn readuntil_over_the_limit_keeps_the_data_buffered() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::with_limit(3);
        r.feed_data(b"some dataAA");
        let err = r.readuntil(b"AAA").await.expect_err("over the limit");
        let overrun = LimitOverrunError::find(&err).expect("a LimitOverrunError");
        assert!(overrun.message.contains("not found"), "{overrun}");

        r.feed_data(b"A");
        let err = r.readuntil(b"AAA").await.expect_err("over the limit");
        let overrun = LimitOverrunError::find(&err).expect("a LimitOverrunError");
        assert!(overrun.message.contains("is found"), "{overrun}");
        assert_eq!(overrun.consumed, 9);

        assert_eq!(r.read(100).await?, b"some dataAAA", "nothing was consumed");
        Ok::<_, Error>(())
    })
}

fn readuntil_rejects_an_empty_separator() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"data");
        let err = r.readuntil(b"").await.expect_err("empty separator");
        assert_eq!(kind_of(&err), Some(io::ErrorKind::InvalidInput));
        Ok::<_, Error>(())
    })
}

fn readexactly_waits_for_exactly_n_bytes() -> Result<()> {
    sandloop::run(async {
        const DATA: &[u8] = b"chunk of data\n";
        let r = StreamReader::new();
        feed_later(&r, &[DATA, DATA, DATA], false);
        let got = r.readexactly(2 * DATA.len()).await?;
        assert_eq!(got, [DATA, DATA].concat());
        assert_eq!(r.readexactly(0).await?, b"");
        assert_eq!(r.readexactly(DATA.len()).await?, DATA);
        Ok::<_, Error>(())
    })
}

fn readexactly_at_eof_gives_incomplete_read_with_the_partial_bytes() -> Result<()> {
    sandloop::run(async {
        const DATA: &[u8] = b"chunk of data\n";
        let r = StreamReader::new();
        feed_later(&r, &[DATA], true);
        let err = r.readexactly(2 * DATA.len()).await.expect_err("EOF first");
        assert_eq!(kind_of(&err), Some(io::ErrorKind::UnexpectedEof));
        let short = IncompleteReadError::find(&err).expect("an IncompleteReadError");
        assert_eq!(short.partial, DATA);
        assert_eq!(short.expected, Some(2 * DATA.len()));
        assert_eq!(
            short.to_string(),
            "14 bytes read on a total of 28 expected bytes"
        );
        assert!(r.at_eof());
        Ok::<_, Error>(())
    })
}

fn set_exception_fails_later_reads() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        assert!(r.exception().is_none());
        r.feed_data(b"line\n");
        assert_eq!(r.read(2).await?, b"li");
        r.set_exception(Error::Runtime("broken".into()));
        assert!(matches!(r.exception(), Some(Error::Runtime(m)) if m == "broken"));
        // Even with data buffered, as in asyncio.
        for result in [
            r.read(2).await,
            r.readline().await,
            r.readexactly(1).await,
            r.readuntil(b"\n").await,
            r.read_to_end().await,
        ] {
            assert!(
                matches!(result, Err(Error::Runtime(ref m)) if m == "broken"),
                "{result:?}"
            );
        }
        Ok::<_, Error>(())
    })
}

fn set_exception_wakes_a_waiting_read() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        let reader = r.clone();
        let waiting = create_task(async move { reader.readline().await });
        yield_a_few_times().await?;
        assert!(!waiting.done(), "readline waits for data");
        r.set_exception(Error::Runtime("broken".into()));
        let got = waiting.await;
        assert!(
            matches!(got, Err(Error::Runtime(ref m)) if m == "broken"),
            "{got:?}"
        );
        Ok::<_, Error>(())
    })
}

fn a_second_waiting_read_is_refused() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        let reader = r.clone();
        let first = create_task(async move { reader.read(10).await });
        yield_a_few_times().await?;
        let second = r.readline().await;
        match second {
            Err(Error::Runtime(m)) => assert_eq!(
                m,
                "readline() called while another coroutine is already waiting for incoming data"
            ),
            other => panic!("{other:?}"),
        }
        r.feed_data(b"data");
        assert_eq!(first.await?, b"data");
        Ok::<_, Error>(())
    })
}

fn a_cancelled_read_lets_the_next_one_wait() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        let reader = r.clone();
        let first = create_task(async move { reader.readline().await });
        yield_a_few_times().await?;
        first.cancel();
        assert!(first.await.is_err_and(|e| e.is_cancelled()));
        feed_later(&r, &[b"line\n"], false);
        assert_eq!(r.readline().await?, b"line\n");
        Ok::<_, Error>(())
    })
}

fn next_line_iterates_until_eof() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        feed_later(&r, &[b"line1\nli", b"ne2\n", b"line3"], true);
        let mut lines = Vec::new();
        while let Some(line) = r.next_line().await? {
            lines.push(line);
        }
        assert_eq!(lines, [&b"line1\n"[..], b"line2\n", b"line3"]);
        Ok::<_, Error>(())
    })
}

fn async_read_reads_fed_data_until_eof() -> Result<()> {
    sandloop::run(async {
        let mut r = StreamReader::new();
        r.feed_data(b"hello ");
        feed_later(&r, &[b"async ", b"world"], true);
        let mut small = [0u8; 3];
        AsyncReadExt::read_exact(&mut r, &mut small).await?;
        assert_eq!(&small, b"hel");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut r, &mut rest).await?;
        assert_eq!(rest, b"lo async world");
        Ok::<_, Error>(())
    })
}

// ---- Over loopback TCP -------------------------------------------------------------------

async fn echo_round_trip_over_loopback_case() -> Result<()> {
    let server = start_server(
        async |r: StreamReader, w: StreamWriter| {
            while let Some(line) = r.next_line().await? {
                w.write(&line);
                w.drain().await?;
            }
            w.close();
            w.wait_closed().await
        },
        "127.0.0.1",
        0,
        ServerOptions::default(),
    )
    .await?;
    let port = port_of(&server)?;

    let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
    w.write(b"hello\n");
    w.drain().await?;
    assert_eq!(r.readline().await?, b"hello\n");
    w.writelines([&b"wor"[..], b"ld\n"]);
    w.drain().await?;
    assert_eq!(r.readline().await?, b"world\n");

    match w.get_extra_info("peername") {
        Some(ExtraInfo::Address(addr)) => {
            assert_eq!(addr.as_inet().map(|a| a.port()), Some(port))
        }
        other => panic!("peername: {other:?}"),
    }
    assert!(matches!(
        w.get_extra_info("sockname"),
        Some(ExtraInfo::Address(_))
    ));

    w.close();
    assert!(w.is_closing());
    w.wait_closed().await?;
    shut_down(server).await
}

fn echo_round_trip_over_loopback() -> Result<()> {
    sandloop::run(echo_round_trip_over_loopback_case())
}

fn echo_round_trip_over_loopback_on_a_selector_loop() -> Result<()> {
    run_on_a_selector_loop(echo_round_trip_over_loopback_case())
}

fn readline_across_chunk_boundaries_over_loopback() -> Result<()> {
    sandloop::run(async {
        let long_line: Vec<u8> = [vec![b'x'; 50_000], b"\n".to_vec()].concat();
        let sent = long_line.clone();
        let server = start_server(
            async move |_r: StreamReader, w: StreamWriter| {
                // Small writes, each given time to travel alone: lines cross segments.
                let mut pieces: Vec<&[u8]> = vec![b"hel", b"lo\nwor", b"ld", b"\n"];
                pieces.extend(sent.chunks(1000));
                pieces.push(b"tail");
                for piece in pieces {
                    w.write(piece);
                    w.drain().await?;
                    sleep(ms(1)).await?;
                }
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        assert_eq!(r.readline().await?, b"hello\n");
        assert_eq!(r.readline().await?, b"world\n");
        assert_eq!(r.readline().await?, long_line);
        assert_eq!(r.readline().await?, b"tail", "the rest at EOF");
        assert_eq!(r.readline().await?, b"");
        assert!(r.at_eof());
        drop(w);
        shut_down(server).await
    })
}

async fn slow_reader_pauses_reading_and_makes_drain_wait_case() -> Result<()> {
    // More than the kernel's socket buffers hold, so the writer must wait for the reader.
    const TOTAL: usize = 16 << 20;
    const HIGH: usize = 16 * 1024;
    let drain_waits = Rc::new(Cell::new(0usize));
    let waits = drain_waits.clone();
    let server = start_server(
        async move |_r: StreamReader, w: StreamWriter| {
            w.transport().set_write_buffer_limits(Some(HIGH), None)?;
            let mut sent = 0;
            while sent < TOTAL {
                w.write(&pattern(5, sent, 64 * 1024));
                sent += 64 * 1024;
                if w.transport().get_write_buffer_size() > HIGH {
                    waits.set(waits.get() + 1);
                }
                w.drain().await?;
                assert!(
                    w.transport().get_write_buffer_size() <= HIGH,
                    "drain returned over the high-water mark"
                );
            }
            Ok::<_, Error>(())
        },
        "127.0.0.1",
        0,
        ServerOptions::default(),
    )
    .await?;
    let port = port_of(&server)?;

    let (r, w) =
        open_connection_with_limit("127.0.0.1", port, ConnectOptions::default(), 1024).await?;
    // Nobody reads: past twice its limit the reader pauses the transport. (No event
    // tells; poll the transport's state.)
    sandloop::timeout(Duration::from_secs(10), async {
        while w.transport().is_reading() {
            sleep(ms(1)).await?;
        }
        Ok::<_, Error>(())
    })
    .await?;

    let data = r.read_to_end().await?;
    assert_pattern(&data, 5, TOTAL);
    assert!(
        drain_waits.get() > 0,
        "the writer never had to wait for the reader"
    );
    drop(w);
    shut_down(server).await
}

fn slow_reader_pauses_reading_and_makes_drain_wait() -> Result<()> {
    sandloop::run(slow_reader_pauses_reading_and_makes_drain_wait_case())
}

fn slow_reader_pauses_reading_and_makes_drain_wait_on_a_selector_loop() -> Result<()> {
    run_on_a_selector_loop(slow_reader_pauses_reading_and_makes_drain_wait_case())
}

async fn write_eof_lets_the_peer_read_to_eof_and_still_answer_case() -> Result<()> {
    let server = start_server(
        async |r: StreamReader, w: StreamWriter| {
            let request = r.read_to_end().await?;
            assert!(r.at_eof());
            w.write(b"reply to ");
            w.write(&request);
            w.drain().await
        },
        "127.0.0.1",
        0,
        ServerOptions::default(),
    )
    .await?;
    let port = port_of(&server)?;

    let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
    assert!(w.can_write_eof());
    w.write(b"request");
    w.write_eof();
    assert!(!w.is_closing(), "a half-close keeps the connection");
    assert_eq!(r.read_to_end().await?, b"reply to request");
    w.close();
    w.wait_closed().await?;
    shut_down(server).await
}

fn write_eof_lets_the_peer_read_to_eof_and_still_answer() -> Result<()> {
    sandloop::run(write_eof_lets_the_peer_read_to_eof_and_still_answer_case())
}

fn write_eof_lets_the_peer_read_to_eof_and_still_answer_on_a_selector_loop() -> Result<()> {
    run_on_a_selector_loop(write_eof_lets_the_peer_read_to_eof_and_still_answer_case())
}

fn wait_closed_returns_after_close_and_drain_then_fails() -> Result<()> {
    sandloop::run(async {
        let server = start_server(
            async |r: StreamReader, _w: StreamWriter| {
                assert_eq!(r.read_to_end().await?, b"bye");
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        let (r, mut w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        w.write(b"bye");
        w.close();
        assert!(w.is_closing());
        w.wait_closed().await?;
        w.wait_closed().await?;
        let err = w.drain().await.expect_err("the connection is gone");
        assert_eq!(kind_of(&err), Some(io::ErrorKind::ConnectionReset));
        let err = AsyncWriteExt::write(&mut w, b"more")
            .await
            .expect_err("writing to a closed writer");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(r.read(10).await?, b"", "the reader saw the end");
        shut_down(server).await
    })
}

async fn ten_mib_cross_both_ways_byte_exact_case() -> Result<()> {
    const LEN: usize = 10 << 20;
    let server = start_server(
        async |r: StreamReader, w: StreamWriter| {
            let sender = create_task(async move {
                send_pattern(&w, 1, LEN).await?;
                w.write_eof();
                Ok::<_, Error>(w)
            });
            let got = r.read_to_end().await?;
            assert_pattern(&got, 2, LEN);
            let w = sender.join().await?;
            w.close();
            w.wait_closed().await
        },
        "127.0.0.1",
        0,
        ServerOptions::default(),
    )
    .await?;
    let port = port_of(&server)?;

    let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
    let sender = create_task(async move {
        send_pattern(&w, 2, LEN).await?;
        w.write_eof();
        Ok::<_, Error>(w)
    });
    let got = r.read_to_end().await?;
    assert_pattern(&got, 1, LEN);
    let w = sender.join().await?;
    w.close();
    w.wait_closed().await?;
    shut_down(server).await
}

fn ten_mib_cross_both_ways_byte_exact() -> Result<()> {
    sandloop::run(ten_mib_cross_both_ways_byte_exact_case())
}

fn ten_mib_cross_both_ways_byte_exact_on_a_selector_loop() -> Result<()> {
    run_on_a_selector_loop(ten_mib_cross_both_ways_byte_exact_case())
}

fn async_read_and_async_write_echo_with_futures_io() -> Result<()> {
    const LEN: usize = 1 << 20;
    sandloop::run(async {
        let server = start_server(
            async |mut r: StreamReader, mut w: StreamWriter| {
                let copied = futures_util::io::copy(&mut r, &mut w).await?;
                assert_eq!(copied, LEN as u64);
                AsyncWriteExt::close(&mut w).await?;
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        let (mut r, mut w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        let sender = create_task(async move {
            // write_all waits in poll_write while the transport is over its high-water mark.
            AsyncWriteExt::write_all(&mut w, &pattern(9, 0, LEN)).await?;
            AsyncWriteExt::flush(&mut w).await?;
            w.write_eof();
            Ok::<_, Error>(w)
        });
        let mut echoed = Vec::new();
        AsyncReadExt::read_to_end(&mut r, &mut echoed).await?;
        assert_pattern(&echoed, 9, LEN);
        let mut w = sender.join().await?;
        AsyncWriteExt::close(&mut w).await?;
        assert!(w.is_closing());
        shut_down(server).await
    })
}

fn client_callback_error_goes_to_the_exception_handler_and_closes() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        lp.set_exception_handler(Some(move |_: &EventLoop, ctx: &ExceptionContext| {
            let exc = ctx.exception.as_ref().map(|e| e.to_string());
            l.push(format!("{}: {}", ctx.message, exc.unwrap_or_default()));
            assert!(ctx.transport.is_some(), "the context names the transport");
        }));
        let server = start_server(
            async |r: StreamReader, _w: StreamWriter| {
                r.readline().await?;
                Err::<(), _>(Error::other("handler failed"))
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        w.write(b"go\n");
        assert_eq!(
            r.read_to_end().await?,
            b"",
            "the server closed the connection"
        );
        shut_down(server).await?;
        w.close();
        w.wait_closed().await
    })?;
    assert_eq!(
        log.get(),
        ["Unhandled exception in client_connected_cb: handler failed"]
    );
    Ok(())
}

fn open_connection_to_a_closed_port_is_refused() -> Result<()> {
    sandloop::run(async {
        let server = start_server(
            async |_r: StreamReader, _w: StreamWriter| {},
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;
        shut_down(server).await?;
        let err = open_connection("127.0.0.1", port, ConnectOptions::default())
            .await
            .expect_err("nobody listens");
        assert_eq!(
            kind_of(&err),
            Some(io::ErrorKind::ConnectionRefused),
            "{err}"
        );
        Ok::<_, Error>(())
    })
}

fn dropping_the_writer_half_closes_while_the_reader_is_in_use() -> Result<()> {
    sandloop::run(async {
        let server = start_server(
            async |r: StreamReader, w: StreamWriter| {
                let request = r.read_to_end().await?;
                w.write(&request);
                w.write(b" pong");
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        let transport = w.transport().clone();
        w.write(b"ping");
        drop(w);
        assert!(!transport.is_closing(), "only the write side ended");
        assert_eq!(r.read_to_end().await?, b"ping pong");
        assert!(transport.is_closing(), "both sides are done");
        shut_down(server).await
    })
}

fn dropping_both_halves_closes_the_connection() -> Result<()> {
    sandloop::run(async {
        let server = start_server(
            async |r: StreamReader, _w: StreamWriter| {
                assert_eq!(r.read_to_end().await?, b"last words");
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        // Reader first, then writer.
        let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        let transport = w.transport().clone();
        w.write(b"last words");
        drop(r);
        assert!(!transport.is_closing());
        drop(w);
        assert!(transport.is_closing());

        // Writer first, then reader.
        let (r, w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        let transport = w.transport().clone();
        w.write(b"last words");
        drop(w);
        assert!(!transport.is_closing());
        drop(r);
        assert!(transport.is_closing());
        shut_down(server).await
    })
}

// ---- The duplex Connection, and the futures traits on shared readers ---------------------

fn async_read_through_a_shared_reader() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::new();
        r.feed_data(b"shared ");
        feed_later(&r, &[b"reader"], true);
        let mut by_ref = &r;
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut by_ref, &mut rest).await?;
        assert_eq!(rest, b"shared reader");
        assert!(r.at_eof());
        Ok::<_, Error>(())
    })
}

fn lines_stream_yields_each_line_an_overrun_then_ends() -> Result<()> {
    sandloop::run(async {
        let r = StreamReader::with_limit(8);
        feed_later(&r, &[b"one\ntw", b"o\nmuch too long\n", b"last"], true);
        let mut lines = r.lines();
        assert_eq!(lines.next().await.transpose()?, Some(b"one\n".to_vec()));
        assert_eq!(lines.next().await.transpose()?, Some(b"two\n".to_vec()));
        let err = lines
            .next()
            .await
            .expect("an item")
            .expect_err("over the limit");
        assert!(LimitOverrunError::find(&err).is_some(), "{err}");
        assert_eq!(lines.next().await.transpose()?, Some(b"last".to_vec()));
        assert!(lines.next().await.is_none());
        assert!(lines.next().await.is_none(), "the stream stays ended");
        Ok::<_, Error>(())
    })
}

/// An echo server of lines, for the `Connection` cases.
async fn line_echo_server() -> Result<Server> {
    start_server(
        async |r: StreamReader, w: StreamWriter| {
            while let Some(line) = r.next_line().await? {
                w.write(&line);
                w.drain().await?;
            }
            Ok::<_, Error>(())
        },
        "127.0.0.1",
        0,
        ServerOptions::default(),
    )
    .await
}

fn connection_reads_lines_buffered_and_gives_its_halves_back() -> Result<()> {
    sandloop::run(async {
        let server = line_echo_server().await?;
        let mut conn = Connection::connect("127.0.0.1", port_of(&server)?).await?;
        conn.write_all(b"alpha\n").await?;
        conn.flush().await?;
        let mut line = String::new();
        conn.read_line(&mut line).await?;
        assert_eq!(line, "alpha\n");
        // Both echoed lines arrive in the reader's buffer; fill_buf hands all of it out.
        conn.write_all(b"beta\ngamma\n").await?;
        sleep(ms(100)).await?;
        assert_eq!(conn.fill_buf().await?, b"beta\ngamma\n");
        conn.consume_unpin(b"beta\n".len());
        // halves puts what fill_buf took and nobody consumed back into the reader.
        let (reader, writer) = conn.halves();
        assert_eq!(reader.readline().await?, b"gamma\n");
        writer.write(b"delta\n");
        let (reader, writer) = conn.into_split();
        assert_eq!(reader.readline().await?, b"delta\n");
        let mut conn = Connection::from((reader, writer));
        assert!(conn.get_extra_info("peername").is_some());
        conn.close().await?;
        shut_down(server).await
    })
}

fn connection_copies_a_mebibyte_both_ways_with_futures_io() -> Result<()> {
    const LEN: usize = 1 << 20;
    sandloop::run(async {
        let server = start_server(
            async |r: StreamReader, w: StreamWriter| {
                let mut conn = Connection::from((r, w));
                let (mut r, mut w) = conn.halves();
                let copied = futures_util::io::copy(&mut r, &mut w).await?;
                assert_eq!(copied, LEN as u64);
                conn.close().await?;
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let conn = Connection::connect("127.0.0.1", port_of(&server)?).await?;
        let (r, w) = conn.into_split();
        let sender = create_task(async move {
            let mut w = w;
            w.write_all(&pattern(4, 0, LEN)).await?;
            w.flush().await?;
            w.write_eof();
            Ok::<_, Error>(w)
        });
        let mut conn = Connection::from((r, sender.join().await?));
        let mut echoed = Vec::new();
        conn.read_to_end(&mut echoed).await?;
        assert_pattern(&echoed, 4, LEN);
        shut_down(server).await
    })
}

/// hyper flushes after shutting a connection down: once it closed cleanly, flush is `Ok`
/// (everything written went out), where `drain` keeps asyncio's `ConnectionReset`.
fn flush_after_a_clean_close_is_ok() -> Result<()> {
    sandloop::run(async {
        let server = line_echo_server().await?;
        let mut conn = Connection::connect("127.0.0.1", port_of(&server)?).await?;
        conn.write_all(b"bye\n").await?;
        conn.close().await?;
        conn.flush().await?;
        conn.flush().await?;
        let err = conn
            .writer()
            .drain()
            .await
            .expect_err("drain reports the closed connection");
        assert_eq!(kind_of(&err), Some(io::ErrorKind::ConnectionReset));

        // The same on the writer alone, closed with `close` + `wait_closed`.
        let (_r, mut w) =
            open_connection("127.0.0.1", port_of(&server)?, ConnectOptions::default()).await?;
        w.write(b"bye\n");
        w.close();
        w.wait_closed().await?;
        AsyncWriteExt::flush(&mut w).await?;
        shut_down(server).await
    })
}

/// A connection lost with bytes still unsent fails flush: aborted here (the bytes are
/// dropped), or reset by a peer that never read them.
fn flush_after_losing_unsent_bytes_fails() -> Result<()> {
    const LEN: usize = 8 << 20;
    sandloop::run(async {
        let server = start_server(
            async |_r: StreamReader, w: StreamWriter| {
                // Never read; abort once the client's bytes pile up (an RST, as unread
                // bytes are in the receive buffer).
                sleep(ms(200)).await?;
                w.transport().abort();
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let port = port_of(&server)?;

        let (_r, mut w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        w.write(&pattern(1, 0, LEN));
        w.transport().abort();
        yield_a_few_times().await?;
        let err = AsyncWriteExt::flush(&mut w)
            .await
            .expect_err("aborted with bytes unsent");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");

        let (_r, mut w) = open_connection("127.0.0.1", port, ConnectOptions::default()).await?;
        w.write(&pattern(2, 0, LEN));
        let lost = sandloop::timeout(Duration::from_secs(10), w.wait_closed()).await;
        assert!(lost.is_err(), "the peer reset the connection: {lost:?}");
        let err = AsyncWriteExt::flush(&mut w)
            .await
            .expect_err("reset with bytes unsent");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        shut_down(server).await
    })
}

test_programs::cases!(
    // The reader on fed data.
    read_returns_at_most_n_buffered_bytes,
    read_zero_returns_nothing_without_waiting,
    read_waits_for_data_fed_later,
    read_to_end_collects_every_chunk_until_eof,
    at_eof_is_true_only_after_eof_with_an_empty_buffer,
    readline_returns_lines_then_the_rest_at_eof,
    readline_waits_for_the_separator_across_chunks,
    readline_over_the_limit_discards_the_long_line,
    readline_over_the_limit_without_a_separator_discards_the_buffer,
    readuntil_finds_a_multi_byte_separator_across_chunks,
    readuntil_at_eof_gives_incomplete_read_with_the_rest,
    readuntil_over_the_limit_keeps_the_data_buffered,
    readuntil_rejects_an_empty_separator,
    readexactly_waits_for_exactly_n_bytes,
    readexactly_at_eof_gives_incomplete_read_with_the_partial_bytes,
    set_exception_fails_later_reads,
    set_exception_wakes_a_waiting_read,
    a_second_waiting_read_is_refused,
    a_cancelled_read_lets_the_next_one_wait,
    next_line_iterates_until_eof,
    async_read_reads_fed_data_until_eof,
    // Over loopback TCP.
    echo_round_trip_over_loopback,
    readline_across_chunk_boundaries_over_loopback,
    slow_reader_pauses_reading_and_makes_drain_wait,
    write_eof_lets_the_peer_read_to_eof_and_still_answer,
    wait_closed_returns_after_close_and_drain_then_fails,
    ten_mib_cross_both_ways_byte_exact,
    async_read_and_async_write_echo_with_futures_io,
    client_callback_error_goes_to_the_exception_handler_and_closes,
    open_connection_to_a_closed_port_is_refused,
    dropping_the_writer_half_closes_while_the_reader_is_in_use,
    dropping_both_halves_closes_the_connection,
    // The same over readiness-mode transports.
    echo_round_trip_over_loopback_on_a_selector_loop,
    slow_reader_pauses_reading_and_makes_drain_wait_on_a_selector_loop,
    write_eof_lets_the_peer_read_to_eof_and_still_answer_on_a_selector_loop,
    ten_mib_cross_both_ways_byte_exact_on_a_selector_loop,
    shutdown_asyncgens_closes_the_connections_of_live_readers,
    // The duplex Connection, and the futures traits on shared readers.
    async_read_through_a_shared_reader,
    lines_stream_yields_each_line_an_overrun_then_ends,
    connection_reads_lines_buffered_and_gives_its_halves_back,
    connection_copies_a_mebibyte_both_ways_with_futures_io,
    flush_after_a_clean_close_is_ok,
    flush_after_losing_unsent_bytes_fails,
);

/// The crate's streams play asyncio's async generators: `shutdown_asyncgens` closes the
/// connection of a reader that still exists.
fn shutdown_asyncgens_closes_the_connections_of_live_readers() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let server_saw_eof = Rc::new(Cell::new(false));
        let seen = server_saw_eof.clone();
        let server = start_server(
            move |reader: StreamReader, _writer: StreamWriter| {
                let seen = seen.clone();
                async move {
                    let rest = reader.read_to_end().await?;
                    assert!(rest.is_empty());
                    seen.set(true);
                    Ok::<_, Error>(())
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        let (reader, writer) =
            open_connection("127.0.0.1", port_of(&server)?, ConnectOptions::default()).await?;
        lp.shutdown_asyncgens().await?;
        sandloop::timeout(Duration::from_secs(5), async {
            while !server_saw_eof.get() {
                sandloop::sleep(ms(5)).await?;
            }
            Ok::<_, Error>(())
        })
        .await?;
        assert!(writer.is_closing());
        drop((reader, writer));
        shut_down(server).await
    })
}
