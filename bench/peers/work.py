"""The actor bodies every system runs, and how they report back.

Each adapter (tasks_<system>.py) wraps these plain functions in its own
task/actor decorator, so all systems run the same code.  The harness
(bench/peer_bench.py) reads the results across process boundaries:

* completions: each finished message appends one byte to the file named by
  $PEER_BENCH_COUNT (O_APPEND writes are atomic across processes and
  threads), so the file size is the number of completions.  This works the
  same for threads, forked processes and event loops, and costs one write()
  per message on every system alike.
* start stamps (latency): the actor's first statement writes (index,
  time.perf_counter()) into the FIFO named by $PEER_BENCH_FIFO; on Linux
  perf_counter is CLOCK_MONOTONIC, comparable between processes.
"""

import asyncio
import os
import struct
import time

STAMP = struct.Struct("<qd")  # 16 bytes < PIPE_BUF: one atomic write

_fds = {}  # (pid, env var) -> fd; re-opened after a fork


def _fd(var, flags):
    key = (os.getpid(), var)
    fd = _fds.get(key)
    if fd is None:
        fd = _fds[key] = os.open(os.environ[var], flags)
    return fd


def done():
    os.write(_fd("PEER_BENCH_COUNT", os.O_WRONLY | os.O_APPEND), b"\0")


def noop():
    done()


def fib(n):
    """Iterative Fibonacci of n (upstream Dramatiq's benchmark actor)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    done()


def io_sleep(ms):
    time.sleep(ms / 1000.0)
    done()


async def io_sleep_async(ms):
    await asyncio.sleep(ms / 1000.0)
    done()


def stamp(i):
    t = time.perf_counter()
    os.write(_fd("PEER_BENCH_FIFO", os.O_WRONLY | os.O_NONBLOCK), STAMP.pack(i, t))
