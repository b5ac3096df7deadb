"""The ``dramatiq`` command: a supervisor for worker processes.

The process that runs ``main`` (the supervisor) never imports the user's
modules and never starts an engine thread: it forks or spawns worker
processes, relays their output, forwards signals to them and restarts
them on SIGHUP.  Each worker process imports the application, builds a
``Worker`` (the C++ engine does the consuming and runs the actors) and
waits for a stop signal.

Exit codes: 0 ok, 1 killed, 2 import error or bad argument, 3 broker
connection failure at startup, 4 pid file problem.
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import random
import selectors
import signal
import sys
import threading
import time
from typing import Optional

from . import Broker, BrokerConnectionError, Worker, __version__, get_broker, get_logger

RET_OK = 0
RET_KILLED = 1
RET_IMPORT = 2
RET_CONNECT = 3
RET_PIDFILE = 4

CPUS = multiprocessing.cpu_count()

#: The log level for each count of ``--verbose`` (more: DEBUG), as
#: upstream's; plugins that start workers themselves (periodiq) read it.
VERBOSITY = {
    0: logging.INFO,
    1: logging.DEBUG,
}

try:
    import watchdog.observers  # noqa: F401

    #: Whether ``--watch`` can work here (the watchdog package is
    #: installed); plugins that wrap the command (flask-dramatiq) read it.
    HAS_WATCHDOG = True
except ImportError:
    HAS_WATCHDOG = False

#: Every log line names its process (PID, and the logger name carries
#: "WorkerProcess(N)") and its thread.  Same layout as upstream's, so
#: tools that parse Dramatiq logs keep working.
LOGFORMAT = "[%(asctime)s] [PID %(process)d] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s"

#: The signals the supervisor handles itself (and forwards).
SUPERVISOR_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

EPILOG = """\
examples:
  dramatiq my_app                      actors (and the global broker) from ./my_app.py
  dramatiq my_app:redis_broker         use the broker named redis_broker in my_app
  dramatiq my_app:app.broker           a broker reached through attributes
  dramatiq my_app:setup_broker         call setup_broker() to configure the broker
  dramatiq my_app other_module         also import other_module
  dramatiq my_app -p 2 -t 16           2 worker processes of 16 worker threads each
  dramatiq my_app -Q default emails    consume only these queues
  dramatiq my_app --watch .            restart the workers when a .py file changes
  dramatiq my_app --pid-file /tmp/dramatiq.pid --log-file /tmp/dramatiq.log
  dramatiq schedules my_app            list my_app's periodic tasks with their last and next runs
"""


# ---------------------------------------------------------------------------------------------
# Command line


def directory(value: str) -> str:
    if not os.path.isdir(value):
        raise argparse.ArgumentTypeError("%r is not a directory" % value)
    return os.path.abspath(value)


def fork_timeout(value: str) -> float:
    # The texts are upstream's: scripts and tests match on them.
    try:
        milliseconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("worker-fork-timeout be a number.") from None
    if milliseconds < 10:
        raise argparse.ArgumentTypeError("worker-fork-timeout too small (minimum recommended: 10ms).")
    if milliseconds > 1_800_000:
        raise argparse.ArgumentTypeError("worker-fork-timeout too large (maximum: 30 minutes).")
    return milliseconds


def make_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dramatiq",
        description="Start processes that run the actors of your dramatiq application.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    add = parser.add_argument
    add("broker", help="module to import for its actors and broker; 'module:name' picks a Broker or a broker factory in it")
    add("modules", metavar="module", nargs="*", help="more modules to import (actors declared elsewhere)")
    add("--broker-url", "-b", metavar="URL",
        help="the broker to use unless the application sets its own: sqlite:///path (the embedded "
             "broker), redis://..., amqp://..., stub:// (default: $DRAMATIQ_BROKER_URL, else the "
             "embedded broker at %s)" % "$XDG_DATA_HOME/dramatiq/broker.sqlite3")
    add("--processes", "-p", type=int, default=CPUS,
        help="how many worker processes to start (default: %d, the CPU count)" % CPUS)
    add("--threads", "-t", type=int, default=8, help="how many worker threads each process runs (default: 8)")
    add("--path", "-P", nargs="*", type=str, default=["."], help="directories to put first on the import path (default: .)")
    add("--queues", "-Q", nargs="*", type=str, help="consume only these queues (default: every declared queue)")
    add("--pid-file", type=str, help="write the supervisor's PID to this file, and refuse to start if a live process owns it")
    add("--log-file", type=str, help="append the log of every process to this file (default: standard error)")
    add("--skip-logging", action="store_true", help="leave logging configuration to the application (no logging.basicConfig())")
    add("--use-spawn", action="store_true",
        help="start the processes with the spawn method (default: %s)" % multiprocessing.get_start_method())
    add("--fork-function", "-f", action="append", dest="forks", default=[],
        help="also run this function (module:function) in a process of its own; repeatable")
    add("--worker-fork-timeout", type=fork_timeout, default=30_000,
        help="how long to wait for the worker processes to boot before starting the fork "
             "processes, in milliseconds (default: 30 seconds)")
    add("--worker-shutdown-timeout", type=int, default=600_000,
        help="how long running messages may take to finish when stopping, in milliseconds (default: 10 minutes)")
    add("--watch", type=directory, metavar="DIR",
        help="restart the workers when source files under DIR change (for development; needs the "
             "watchdog package)")
    add("--watch-use-polling", action="store_true",
        help="poll the file system instead of using the platform's change notifications")
    add("-i", "--watch-include", action="append", dest="include_patterns", default=["*.py"],
        help="a file pattern that triggers a restart when --watch is on (*.py always does)")
    add("-x", "--watch-exclude", action="append", dest="exclude_patterns",
        help="a file pattern to ignore when --watch is on")
    add("--no-scheduler", action="store_true",
        help="do not enqueue the periodic actors' ticks from this command (by default its first worker "
             "process does, when any actor is periodic; other commands on the same broker may too: "
             "each tick is enqueued once)")
    add("--version", action="version", version=__version__)
    add("--verbose", "-v", action="count", default=0, help="log debug messages too")
    return parser


# ---------------------------------------------------------------------------------------------
# Importing the application (worker and fork processes only)


def import_object(value: str):
    """Import ``module`` or ``module:attr.path``; return (module, object or None).

    A missing attribute is reported as an ImportError so that it gets the
    same exit code and message as a missing module."""
    module_name, colon, attr_path = value.partition(":")
    module = importlib.import_module(module_name)
    if not colon:
        return module, None
    # "module:" (nothing after the colon) is a mistake, not the module's
    # global broker: getattr("") fails below and names it, as upstream does.
    obj = module
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ImportError("Module %r does not define a %r variable." % (module_name, attr_path)) from None
    return module, obj


def import_broker(value: str):
    """Import the broker named by ``module[:broker_or_factory]``.

    Parameters:
      value(str): ``module`` (the module's global broker), ``module:name``
        (a Broker attribute) or ``module:factory`` (a function that sets up
        the broker; it may return it, otherwise the global broker is used).

    Returns:
      (module, Broker): the imported module and the broker, as upstream's
      (plugins such as periodiq unpack both).
    """
    module, obj = import_object(value)
    if obj is None:
        return module, get_broker()
    if isinstance(obj, Broker):
        return module, obj
    if callable(obj):
        result = obj()
        return module, result if isinstance(result, Broker) else get_broker()
    raise ImportError("%r is not a Broker." % value)


def check_broker_connection(broker: Broker) -> None:
    """Raise BrokerConnectionError now if the broker's server cannot be
    reached, so that a wrong URL or a dead server fails the command at
    startup (exit 3) instead of leaving consumers retrying forever."""
    ping = getattr(broker, "ping", None)
    if callable(ping):
        ping()


# ---------------------------------------------------------------------------------------------
# Logging


class LogSink:
    """The one place where log text is written (stderr or the log file).
    The relay thread and the supervisor's own log handler share it; the
    lock keeps their lines whole."""

    def __init__(self, path: Optional[str]) -> None:
        self._lock = threading.RLock()
        self._owned = path is not None
        self._stream = open(path, "a", encoding="utf-8") if path is not None else sys.stderr

    def write(self, text: str) -> None:
        with self._lock:
            self._stream.write(text)
            self._stream.flush()

    def flush(self) -> None:
        pass  # write() flushes

    def close(self) -> None:
        if self._owned:
            self._stream.close()


def setup_logging(args, stream, logger_name: str) -> logging.Logger:
    if not args.skip_logging:
        level = VERBOSITY.get(args.verbose, logging.DEBUG)
        # force: a forked child inherits the supervisor's handlers.
        logging.basicConfig(level=level, format=LOGFORMAT, stream=stream, force=True)
    return get_logger("dramatiq", logger_name)


#: The supervisor's ends of the children's pipes.  A forked child gets a
#: copy of every one of them: it must let go of them, or its own log pipe
#: would never break when the supervisor dies and it could block forever
#: writing to a full pipe that nobody reads.
_supervisor_fds: set = set()


def supervisor_side(conn):
    _supervisor_fds.add(conn.fileno())
    return conn


def release_supervisor_fds() -> None:
    """In a forked child: point the inherited supervisor fds at /dev/null.
    (Not closed: Connection objects copied by fork still own those numbers,
    and closing them later must not hit a file we opened since.)"""
    if not _supervisor_fds:
        return  # spawned: nothing was inherited
    devnull = os.open(os.devnull, os.O_RDONLY)
    for fd in _supervisor_fds:
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)
    _supervisor_fds.clear()


def redirect_output(log_conn) -> None:
    """Send everything a child process writes (logging, print, tracebacks,
    and writes to fds 1 and 2 from C++) to its log pipe; the supervisor
    relays it to the log destination line by line."""
    os.dup2(log_conn.fileno(), 1)
    os.dup2(log_conn.fileno(), 2)
    log_conn.close()
    stream = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace",
                              line_buffering=True)
    sys.stdout = sys.stderr = stream


class LogRelay(threading.Thread):
    """Copies what the child processes write on their log pipes to the
    sink, whole lines at a time, so that lines from different processes
    never get mixed."""

    def __init__(self, sink: LogSink, connections) -> None:
        super().__init__(name="LogRelay", daemon=False)
        self._sink = sink
        self._selector = selectors.DefaultSelector()
        self._partial = {}
        self._stopping = threading.Event()
        for conn in connections:
            self._selector.register(conn.fileno(), selectors.EVENT_READ, conn)
            self._partial[conn.fileno()] = b""

    def run(self) -> None:
        while self._selector.get_map() and not self._stopping.is_set():
            self._pump(timeout=0.2)
        # The children have exited: take what they wrote last.
        while self._selector.get_map() and self._pump(timeout=0):
            pass
        for fd in list(self._partial):
            self._finish(fd)

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def _pump(self, timeout: float) -> bool:
        """Read whatever is ready; False when nothing was."""
        events = self._selector.select(timeout)
        for key, _ in events:
            try:
                data = os.read(key.fd, 65536)
            except OSError:
                data = b""
            if not data:
                self._finish(key.fd)
                continue
            lines, _, rest = (self._partial[key.fd] + data).rpartition(b"\n")
            self._partial[key.fd] = rest
            if lines:
                self._sink.write((lines + b"\n").decode("utf-8", errors="replace"))
        return bool(events)

    def _finish(self, fd: int) -> None:
        rest = self._partial.pop(fd, b"")
        if rest:
            self._sink.write(rest.decode("utf-8", errors="replace") + "\n")
        key = self._selector.get_map().get(fd)
        if key is not None:
            self._selector.unregister(fd)
            key.data.close()


# ---------------------------------------------------------------------------------------------
# Worker and fork processes


def unblock_signals() -> None:
    # Children inherit the supervisor's blocked mask (see main).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)


def worker_process(args, worker_id: int, report_conn, log_conn) -> None:
    """Entry point of a worker process (exits with one of the RET_ codes)."""
    stop_requested = threading.Event()

    def request_stop(signum, frame):
        stop_requested.set()
        # A second SIGTERM kills at once, even while the engine is blocked
        # finishing messages; more SIGHUPs (an editor saving a file in
        # several steps under --watch) are ignored.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    # Ctrl-C reaches the whole process group: the supervisor alone reacts
    # to it, and tells the workers with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGHUP, request_stop)
    unblock_signals()

    random.seed()  # forked children would otherwise share the parent's random sequence
    release_supervisor_fds()
    redirect_output(log_conn)
    logger = setup_logging(args, sys.stderr, "WorkerProcess(%d)" % worker_id)

    code, broker, worker = boot_worker(args, logger)
    try:
        report_conn.send(None if code != RET_OK else middleware_forks(broker))
    except OSError:
        pass  # the supervisor stopped waiting
    report_conn.close()
    if code != RET_OK:
        sys.exit(code)

    scheduler = start_scheduler(broker, logger) if worker_id == 0 and not args.no_scheduler else None
    logger.info("Worker process is ready for action.")
    wait_for_stop(stop_requested, logger)
    logger.info("Stopping worker process...")
    if scheduler is not None:
        scheduler.stop()
    broker.emit_before("process_stop")
    worker.stop(timeout=args.worker_shutdown_timeout)
    broker.emit_after("process_stop")
    broker.close()
    logger.info("Worker process stopped.")


def start_scheduler(broker: Broker, logger):
    """Start enqueueing the application's periodic tasks (None when it has
    none, periodiq schedules them, or the broker cannot)."""
    from .schedules import Scheduler, periodic_tasks, scheduled_by_periodiq

    try:
        tasks = periodic_tasks(broker)
        if not tasks:
            return None
        if scheduled_by_periodiq(broker):
            logger.info("periodiq's middleware is on the broker: periodiq schedules the periodic actors.")
            return None
        scheduler = Scheduler(broker, tasks)
    except ValueError as e:
        logger.error("The periodic actors cannot be scheduled: %s", e)
        return None
    scheduler.start()
    logger.info("Scheduling %d periodic task(s): %s.", len(tasks), ", ".join(t.name for t in tasks))
    return scheduler


def wait_for_stop(stop_requested: threading.Event, logger) -> None:
    """Wait for a stop signal, or for the supervisor to disappear (killed
    with SIGKILL, it cannot tell us): orphaned workers would otherwise
    run on unsupervised."""
    supervisor_pid = os.getppid()
    while not stop_requested.wait(1.0):
        if os.getppid() != supervisor_pid:
            logger.warning("The supervisor process %d is gone; stopping.", supervisor_pid)
            return


def boot_worker(args, logger):
    """Import the application and start a Worker: (RET_ code, broker, worker)."""
    code, broker = import_application(args, logger)
    if code != RET_OK:
        return code, None, None
    try:
        check_broker_connection(broker)
        worker = Worker(broker, queues=args.queues, worker_threads=args.threads)
        worker.start()
    except BrokerConnectionError:
        logger.exception("Broker connection failed.")
        return RET_CONNECT, None, None
    except Exception:
        logger.exception("The worker failed to start.")
        return RET_KILLED, None, None
    return RET_OK, broker, worker


def import_application(args, logger):
    """Import the broker's module and the other modules: (RET_ code, broker)."""
    current = args.broker
    try:
        logger.debug("Loading broker from %r...", current)
        _, broker = import_broker(current)
        broker.emit_after("process_boot")
        for current in args.modules:
            logger.debug("Loading module %r...", current)
            importlib.import_module(current)
        return RET_OK, broker
    except BrokerConnectionError:
        # The application talked to the broker while being imported.
        logger.exception("Broker connection failed.")
        return RET_CONNECT, None
    except Exception:
        # Whatever stops a module from importing (ImportError, SyntaxError,
        # an exception raised at import time) is reported as an import error.
        logger.exception("Failed to import module %r.", current)
        return RET_IMPORT, None


def middleware_forks(broker: Broker) -> list:
    """The ``module:function`` paths of the functions the broker's
    middleware want run in fork processes."""
    return ["%s:%s" % (fn.__module__, fn.__qualname__) for m in broker.middleware for fn in m.forks]


def fork_process(args, fork_id: int, fork_path: str, log_conn) -> None:
    """Entry point of a fork process: runs one function until it returns
    or the supervisor stops it."""
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        code = RET_KILLED if stopping else RET_OK
        stopping = True
        sys.exit(code)  # raised inside the fork function: it can clean up

    release_supervisor_fds()
    redirect_output(log_conn)
    random.seed()
    logger = setup_logging(args, sys.stderr, "ForkProcess(%d)" % fork_id)
    try:
        _, function = import_object(fork_path)
    except Exception:
        logger.exception("Failed to import module %r.", fork_path)
        sys.exit(RET_IMPORT)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGHUP, request_stop)
    unblock_signals()
    stop_when_orphaned(logger)
    logger.info("Fork process %r is ready for action.", fork_path)
    sys.exit(function())


def stop_when_orphaned(logger) -> None:
    """Stop this fork process as a SIGTERM would once the supervisor is
    gone: a fork function runs until told to stop, and a SIGKILLed
    supervisor cannot tell it."""
    supervisor_pid = os.getppid()

    def watch() -> None:
        while os.getppid() == supervisor_pid:
            time.sleep(1.0)
        logger.warning("The supervisor process %d is gone; stopping.", supervisor_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="SupervisorWatch", daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Supervisor


def write_pid_file(path: str) -> None:
    """Write our PID to ``path``; RuntimeError when another live process
    owns it or it cannot be written."""
    pid = os.getpid()
    try:
        with open(path) as f:
            content = f.read().strip()
    except FileNotFoundError:
        content = None
    except OSError as e:
        raise RuntimeError("Cannot read PID file %r: %s." % (path, e.strerror)) from None
    if content is not None:
        try:
            old_pid = int(content)
        except ValueError:
            # Maybe the user pointed --pid-file at a real file: don't overwrite it.
            raise RuntimeError("PID file %r does not contain a PID. Aborting." % path) from None
        if old_pid == pid:
            return  # we wrote it before re-executing ourselves on SIGHUP
        if process_exists(old_pid):
            raise RuntimeError("Dramatiq is already running with PID %d (PID file %r)." % (old_pid, path))
    try:
        with open(path, "w") as f:
            f.write("%d\n" % pid)
        os.chmod(path, 0o644)
    except OSError as e:
        raise RuntimeError("Cannot write PID file %r: %s." % (path, e.strerror)) from None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def remove_pid_file(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def startup_error(args, message: str, code: int) -> int:
    """Log why the command cannot start (before any child exists)."""
    try:
        sink = LogSink(args.log_file)
    except OSError:
        sink = LogSink(None)
    setup_logging(args, sink, "MainProcess").critical(message)
    sink.close()
    return code


def check_watch_support(args) -> Optional[str]:
    """Why --watch cannot work here, or None."""
    if args.watch is None:
        return None
    if not HAS_WATCHDOG:
        return "--watch needs the watchdog package: pip install watchdog"
    return None


def start_file_watcher(args):
    """A watchdog observer that sends us SIGHUP when a watched file changes."""
    from .watcher import setup_file_watcher

    return setup_file_watcher(args.watch, args.watch_use_polling, args.include_patterns, args.exclude_patterns)


class Child:
    """A worker or fork process, with the read end of its log pipe."""

    def __init__(self, context, kind: str, target, target_args) -> None:
        self.kind = kind
        self.signalled = False
        read_end, write_end = context.Pipe(duplex=False)
        self.log_conn = supervisor_side(read_end)
        self.process = context.Process(target=target, args=(*target_args, write_end), daemon=False,
                                       name="%sProcess(%d)" % (kind, target_args[1]))
        self.process.start()
        write_end.close()  # the child has its copy; EOF must come when it exits


def start_workers(context, args):
    """Start the worker processes; return them with the read ends of
    their boot-report pipes."""
    workers, reports = [], []
    for worker_id in range(args.processes):
        report_read, report_write = context.Pipe(duplex=False)
        supervisor_side(report_read)
        workers.append(Child(context, "Worker", worker_process, (args, worker_id, report_write)))
        report_write.close()
        reports.append(report_read)
    return workers, reports


def wait_for_boot_reports(reports, timeout_ms: float) -> list:
    """Wait (bounded) until every worker process booted or died; return
    the fork function paths that their middleware asked for."""
    forks, pending = [], list(reports)
    deadline = time.monotonic() + timeout_ms / 1000
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for conn in multiprocessing.connection.wait(pending, timeout=remaining):
            try:
                report = conn.recv()
            except (EOFError, OSError):
                report = None  # died during boot; the supervision loop reports it
            for path in report or ():
                if path not in forks:
                    forks.append(path)
            pending.remove(conn)
    for conn in reports:
        _supervisor_fds.discard(conn.fileno())  # the number may be reused
        conn.close()
    return forks


class Supervisor:
    """Forwards signals to the children and watches them exit.

    Signals are not acted on inside signal handlers (a handler can
    interrupt the main thread anywhere, even while it holds the log lock):
    Python writes each signal's number to a wake-up pipe, and the
    supervision loop reads and handles them in order."""

    def __init__(self, workers, forks, logger) -> None:
        self.workers = workers
        self.forks = forks
        self.logger = logger
        self.running = True
        self.reload = False
        self._wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_write, False)
        signal.set_wakeup_fd(wakeup_write, warn_on_full_buffer=False)
        for signum in SUPERVISOR_SIGNALS:
            signal.signal(signum, lambda signum, frame: None)  # the wake-up fd does the work

    def handle_signal(self, signum) -> None:
        signum = signal.Signals(signum)
        if signum == signal.SIGHUP:
            if not self.running:
                return  # already stopping; a restart follows anyway
            self.reload = True
        # Ctrl-C means the same as SIGTERM, sent to the workers only.
        forwarded = signal.SIGTERM if signum == signal.SIGINT else signum
        self.logger.info("Sending signal %r to subprocesses...", forwarded.name)
        self.signal_children(forwarded)

    def handle_pending_signals(self) -> None:
        for signum in os.read(self._wakeup_read, 512):
            self.handle_signal(signum)

    def signal_children(self, signum, children=None) -> None:
        self.running = False
        for child in self.workers + self.forks if children is None else children:
            if child.process.exitcode is None:
                child.signalled = True
                try:
                    os.kill(child.process.pid, signum)
                except ProcessLookupError:
                    pass

    def wait(self) -> int:
        """Block until every worker process has exited; the exit code for
        the command.  A worker that exits on its own stops the others."""
        code = RET_OK
        remaining = [w.process for w in self.workers]
        while remaining:
            ready = multiprocessing.connection.wait([self._wakeup_read, *(p.sentinel for p in remaining)],
                                                    timeout=1.0)
            if self._wakeup_read in ready:
                self.handle_pending_signals()
            for process in [p for p in remaining if p.exitcode is not None]:
                remaining.remove(process)
                if self.running:
                    self.logger.critical("Worker with PID %r exited unexpectedly (code %r). Shutting down...",
                                         process.pid, process.exitcode)
                    self.signal_children(signal.SIGTERM)
                    code = process.exitcode
                else:
                    code = code or process.exitcode
        return RET_KILLED if code < 0 else code

    def stop_forks(self) -> None:
        """Fork processes serve the workers: they stop with them."""
        # One SIGTERM each: a second one would mean "kill".
        self.signal_children(signal.SIGTERM, [c for c in self.forks if not c.signalled])
        for child in self.forks:
            child.process.join(10)
            if child.process.exitcode is None:
                self.logger.warning("Fork process %r did not stop; killing it.", child.process.pid)
                child.process.kill()
                child.process.join()


def reexecute() -> None:
    """Replace this process with a fresh run of the same command line, so
    that every module is imported anew (SIGHUP, --watch)."""
    argv = getattr(sys, "orig_argv", None)  # Python >= 3.10
    if argv is None:
        argv = [sys.executable, *(["-m", "dramatiq"] if sys.argv[0].endswith("__main__.py") else [sys.argv[0]]),
                *sys.argv[1:]]
    # Keep the signals blocked through exec (the mask survives it): the new
    # program unblocks them once its handlers are in place.
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
    os.execv(sys.executable, argv)


def schedules_main(argv) -> int:
    """``dramatiq schedules APP [module ...]``: the application's periodic
    tasks with their last runs (as the broker recorded them) and next runs."""
    parser = argparse.ArgumentParser(prog="dramatiq schedules",
                                     description="List the periodic tasks of a dramatiq application.")
    parser.add_argument("broker", help="module to import for its actors and broker ('module:name' as for dramatiq)")
    parser.add_argument("modules", metavar="module", nargs="*", help="more modules to import")
    parser.add_argument("--path", "-P", nargs="*", type=str, default=["."], help="directories to put first on the import path")
    args = parser.parse_args(argv)
    for path in reversed(args.path):
        sys.path.insert(0, path)
    from .schedules import Scheduler

    try:
        _, broker = import_broker(args.broker)
        for module in args.modules:
            importlib.import_module(module)
        states = Scheduler(broker).schedules()
    except (ImportError, ValueError, BrokerConnectionError) as e:
        print("dramatiq schedules: %s" % e, file=sys.stderr)
        return RET_IMPORT
    if not states:
        print("No periodic tasks.")
        return RET_OK

    def when(moment):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"

    rows = [("NAME", "ACTOR", "CRON", "TIMEZONE", "MISSED", "LAST RUN", "NEXT RUN")]
    rows += [(s.name, s.actor_name, s.cron, s.timezone, s.missed, when(s.last_run), when(s.next_run)) for s in states]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return RET_OK


def dashboard_main(argv) -> int:
    """``dramatiq dashboard APP_OR_BROKER_URL [module ...]``: serves the
    dashboard of the application's broker, or of the broker a URL names
    (docs/dashboard.md), on loopback unless told."""
    parser = argparse.ArgumentParser(prog="dramatiq dashboard",
                                     description="Serve a web dashboard of a dramatiq application's broker.")
    parser.add_argument("broker", help="module to import for its actors and broker ('module:name' as for dramatiq), "
                                       "or a broker URL (redis://, amqp://, sqlite:///path)")
    parser.add_argument("modules", metavar="module", nargs="*", help="more modules to import")
    parser.add_argument("--path", "-P", nargs="*", type=str, default=["."], help="directories to put first on the import path")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this host only)")
    parser.add_argument("--port", type=int, default=8008, help="port to listen on (default 8008)")
    parser.add_argument("--read-only", action="store_true", help="refuse every action that changes the broker")
    parser.add_argument("--queue", "-Q", dest="queues", action="append", default=None,
                        help="a queue to show (repeatable; default: the queues the application's actors declare)")
    args = parser.parse_args(argv)
    for path in reversed(args.path):
        sys.path.insert(0, path)
    try:
        import uvicorn

        from .dashboard import create_app
    except ImportError as e:
        print("dramatiq dashboard: %s (pip install 'dramatiq[dashboard]')" % e, file=sys.stderr)
        return RET_IMPORT
    try:
        if "://" in args.broker:
            from .brokers import from_url

            broker = from_url(args.broker)
        else:
            _, broker = import_broker(args.broker)
        for module in args.modules:
            importlib.import_module(module)
    except (ImportError, ValueError, BrokerConnectionError) as e:
        print("dramatiq dashboard: %s" % e, file=sys.stderr)
        return RET_IMPORT
    queues = None
    if args.queues:
        named = sorted(set(args.queues))
        queues = lambda: named  # noqa: E731
    uvicorn.run(create_app(broker, queues=queues, read_only=args.read_only), host=args.host, port=args.port,
                log_level="info")
    return RET_OK


def main(args=None) -> int:
    if args is None and sys.argv[1:2] == ["schedules"]:
        return schedules_main(sys.argv[2:])
    if args is None and sys.argv[1:2] == ["dashboard"]:
        return dashboard_main(sys.argv[2:])
    args = args if args is not None else make_argument_parser().parse_args()
    for path in reversed(args.path):
        sys.path.insert(0, path)

    if args.broker_url:
        # Children (forked or spawned) build it through get_broker().
        from .brokers import BROKER_URL_VARIABLE, check_url

        try:
            check_url(args.broker_url)
        except ValueError as e:
            return startup_error(args, str(e), RET_IMPORT)
        os.environ[BROKER_URL_VARIABLE] = args.broker_url

    if args.pid_file:
        try:
            write_pid_file(args.pid_file)
        except RuntimeError as e:
            return startup_error(args, str(e), RET_PIDFILE)
    problem = check_watch_support(args)
    if problem is not None:
        return startup_error(args, problem, RET_IMPORT)
    try:
        sink = LogSink(args.log_file)
    except OSError as e:
        return startup_error(args, "Cannot open log file %r: %s." % (args.log_file, e.strerror), RET_IMPORT)

    # The children inherit this mask and unblock the signals once their own
    # handlers are installed, so an early Ctrl-C cannot kill one half-booted.
    # Threads started below inherit it too, leaving the signals to the main thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
    context = multiprocessing.get_context("spawn" if args.use_spawn else None)
    workers, reports = start_workers(context, args)
    fork_paths = args.forks + [p for p in wait_for_boot_reports(reports, args.worker_fork_timeout)
                               if p not in args.forks]
    forks = [Child(context, "Fork", fork_process, (args, fork_id, path))
             for fork_id, path in enumerate(fork_paths)]

    # Only now may the supervisor start threads: every fork has happened.
    logger = setup_logging(args, sink, "MainProcess")
    logger.info("Dramatiq %r is booting up.", __version__)
    relay = LogRelay(sink, [c.log_conn for c in workers + forks])
    relay.start()
    watcher = start_file_watcher(args) if args.watch else None

    supervisor = Supervisor(workers, forks, logger)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)

    code = supervisor.wait()
    supervisor.stop_forks()
    if watcher is not None:
        watcher.stop()
        watcher.join()
    relay.stop()

    if supervisor.reload:
        logger.info("Restarting the worker processes...")
        sink.close()
        reexecute()
    if args.pid_file:
        remove_pid_file(args.pid_file)
    sink.close()
    return code

