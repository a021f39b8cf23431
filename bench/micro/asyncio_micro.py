"""Micro benchmarks of asyncio's and uvloop's loop core: the peers of the guest's
(tests/programs/src/bin/bench_loop.rs) in bench/micro.sh.

    python asyncio_micro.py [--uvloop] NAME ITERS

Runs benchmark NAME for ITERS iterations on a fresh loop and prints `elapsed_ns=N`, timed
inside the process around the loop's own work (starting the interpreter and importing are
not measured), as the guest times itself. The benchmarks do what their guest twins do:

    call_soon                 schedule ITERS callbacks, then run them all
    timers_100k_cancel_half   ITERS rounds of: schedule 100,000 timers with random delays in
                              [0, 1 ms), cancel every other one, run until the rest fired
    task_create_await         one task creates a task and awaits it, ITERS times
    future_set_result_await   one task creates a future, schedules its set_result with
                              call_soon and awaits it, ITERS times
"""

import argparse
import asyncio
import random
import sys
import time

TIMERS_PER_ROUND = 100_000
TIMER_SPREAD_S = 0.001


def call_soon(loop, iters):
    count = 0

    def cb():
        nonlocal count
        count += 1

    start = time.perf_counter_ns()
    for _ in range(iters):
        loop.call_soon(cb)
    # stop() before run_forever(): run what is ready, then return (as in the guest).
    loop.stop()
    loop.run_forever()
    took = time.perf_counter_ns() - start
    assert count == iters
    return took


def timers_100k_cancel_half(loop, iters):
    rng = random.Random(0x9E3779B9)
    fired = 0
    half = TIMERS_PER_ROUND // 2

    def cb():
        nonlocal fired
        fired += 1
        if fired == half:
            loop.stop()

    start = time.perf_counter_ns()
    for _ in range(iters):
        fired = 0
        handles = [
            loop.call_later(rng.random() * TIMER_SPREAD_S, cb) for _ in range(TIMERS_PER_ROUND)
        ]
        for handle in handles[::2]:
            handle.cancel()
        del handles
        loop.run_forever()
        assert fired == half
    return time.perf_counter_ns() - start


async def _value(i):
    return i


def task_create_await(loop, iters):
    async def main():
        total = 0
        for i in range(iters):
            total += await loop.create_task(_value(i))
        return total

    start = time.perf_counter_ns()
    total = loop.run_until_complete(main())
    took = time.perf_counter_ns() - start
    assert total == iters * (iters - 1) // 2
    return took


def future_set_result_await(loop, iters):
    async def main():
        total = 0
        for i in range(iters):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, i)
            total += await fut
        return total

    start = time.perf_counter_ns()
    total = loop.run_until_complete(main())
    took = time.perf_counter_ns() - start
    assert total == iters * (iters - 1) // 2
    return took


BENCHMARKS = {
    "call_soon": call_soon,
    "timers_100k_cancel_half": timers_100k_cancel_half,
    "task_create_await": task_create_await,
    "future_set_result_await": future_set_result_await,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("iters", type=int)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        took = BENCHMARKS[args.name](loop, args.iters)
    finally:
        loop.close()
    print(f"elapsed_ns={took}")


if __name__ == "__main__":
    sys.exit(main())
