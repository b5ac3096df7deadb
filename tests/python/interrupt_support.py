"""Runs a script in a child interpreter until it blocks in a call, sends it
SIGINT, and reports how it ended: what Ctrl-C does to a user's script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

#: Bounds every wait here: a child that ignores SIGINT fails the test, it
#: does not hang it.
BOUND = 20.0


def _blocked_in_kernel_wait(pid: int) -> bool:
    """Whether the child's main thread sleeps in the kernel (a futex, poll
    or similar), i.e. it is inside the blocking call, not running Python."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read().strip()
    except OSError:
        return False
    return state == "S" and wchan not in ("", "0")


def interrupt_when_blocked(script: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs ``script``, which prints ``READY`` right before its blocking
    call; once the child's main thread sleeps in that call, sends SIGINT
    and returns the finished process (stdout, stderr, returncode)."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "READY", "child did not start: %r %r" % (line, child.stderr.read())
        deadline = time.monotonic() + BOUND
        while not _blocked_in_kernel_wait(child.pid):
            assert time.monotonic() < deadline, "the child never blocked"
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=BOUND)
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
