"""Upstream's helper modules the worker command is built on, under their
names: dramatiq.canteen (paths shared between processes), dramatiq.compat
(logging through a pipe), dramatiq.watcher (SIGHUP on source changes)."""

import logging
import multiprocessing
import signal
import sys
import threading

import pytest

from dramatiq.canteen import Canteen, canteen_add, canteen_get, canteen_try_init
from dramatiq.compat import StreamablePipe, file_or_stderr


def _fill_canteen(shared, name, filled):
    with canteen_try_init(shared) as acquired:
        if acquired:
            canteen_add(shared, name + "-a")
            canteen_add(shared, name + "-b")
            filled.put(name)


def test_one_of_several_processes_fills_the_canteen_and_the_parent_reads_it():
    context = multiprocessing.get_context("spawn")
    shared = context.Value(Canteen)
    filled = context.Queue()
    processes = [context.Process(target=_fill_canteen, args=(shared, "p%d" % i, filled)) for i in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    winner = filled.get(timeout=10)
    assert filled.empty()
    assert canteen_get(shared, timeout=10) == [winner + "-a", winner + "-b"]


def test_canteen_get_waits_for_the_filling_to_end():
    shared = multiprocessing.Value(Canteen)
    assert canteen_get(shared, timeout=0) == []  # never filled
    adding = threading.Event()
    got = []

    def read_while_filling():
        adding.wait(10)
        got.extend(canteen_get(shared, timeout=10))

    reader = threading.Thread(target=read_while_filling)
    reader.start()
    with canteen_try_init(shared) as acquired:
        assert acquired
        canteen_add(shared, "app.forks:one")
        adding.set()
        canteen_add(shared, "app.forks:two")
    reader.join()
    # The reader waited for the whole list, not the first path.
    assert got == ["app.forks:one", "app.forks:two"]
    with canteen_try_init(shared) as acquired:
        assert not acquired


def test_a_full_canteen_refuses_more():
    canteen = Canteen()
    path = "x" * 1023
    for _ in range(1024):
        canteen_add(canteen, path)
    with pytest.raises(RuntimeError):
        canteen_add(canteen, path)
    assert canteen_get(Canteen(), timeout=0) == []


def _log_through(pipe_end):
    handler = logging.StreamHandler(StreamablePipe(pipe_end))
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("child")
    logger.addHandler(handler)
    logger.warning("from the child: %s", "\u00e9t\u00e9 \udc00")


def test_streamable_pipe_carries_a_childs_log_lines():
    context = multiprocessing.get_context("spawn")
    read_end, write_end = context.Pipe(duplex=False)
    child = context.Process(target=_log_through, args=(write_end,))
    child.start()
    write_end.close()
    assert read_end.poll(60)
    assert read_end.recv_bytes() == "WARNING from the child: \u00e9t\u00e9 ?\n".encode()
    child.join(60)
    assert child.exitcode == 0

    stream = StreamablePipe(read_end)
    assert not stream.isatty() and stream.fileno() == read_end.fileno()
    with pytest.raises(NotImplementedError):
        stream.read()
    stream.close()
    assert stream.closed


def test_file_or_stderr(tmp_path, capsys):
    with file_or_stderr(None) as stream:
        assert stream is sys.stderr
    path = tmp_path / "log.txt"
    with file_or_stderr(str(path)) as stream:
        stream.write("one\n")
    with file_or_stderr(str(path)) as stream:
        stream.write("two\n")
    assert stream.closed
    assert path.read_text() == "one\ntwo\n"


def test_file_watcher_sends_sighup_for_a_matching_change(tmp_path):
    pytest.importorskip("watchdog")
    from dramatiq.watcher import setup_file_watcher

    hangups = threading.Event()
    previous = signal.signal(signal.SIGHUP, lambda *_: hangups.set())
    observer = setup_file_watcher(str(tmp_path), include_patterns=["*.py"], exclude_patterns=["skip_*.py"])
    try:
        (tmp_path / "app.py").write_text("x = 1\n")
        assert hangups.wait(30)
    finally:
        observer.stop()
        observer.join()
        signal.signal(signal.SIGHUP, previous)
