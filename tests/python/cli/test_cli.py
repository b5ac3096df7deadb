"""The ``dramatiq`` command, run for real against a redis-server."""

import os
import re
import signal

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from cli_support import (APP, WAIT, ctrl_c, exits_within, process_gone, ready_pids, stop, wait_ready, wait_until,
                         write_app)

import redis_support


def send(redis_url, actor_name, *args, queue_name="default"):
    """Enqueue messages the way the app's actors would send them."""
    broker = RedisBroker(url=redis_url)
    try:
        broker.declare_queue(queue_name)
        for arg in args:
            broker.enqueue(dramatiq.Message(queue_name=queue_name, actor_name=actor_name,
                                            args=arg, kwargs={}, options={}))
    finally:
        broker.close()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_processes_and_threads_are_honoured(command, redis_server, redis_client, tmp_path, start_method):
    # 2 processes x 3 threads: 6 rendezvous messages can run at once, and
    # they only get past the rendezvous if they do.  12 messages: whatever
    # each process prefetches (up to 6), both get at least 3.
    write_app(tmp_path)
    send(redis_server.url, "rendezvous", *[(i, 6) for i in range(12)])
    extra = ["--use-spawn"] if start_method == "spawn" else []
    child = command.start("app", "-p", "2", "-t", "3", *extra)
    wait_until(lambda: redis_client.llen("done") >= 12, "12 messages processed", child)
    assert stop(child) == 0, child.describe()

    records = [line.split() for line in redis_client.lrange("done", 0, -1)]
    assert all(met == "True" for _, _, _, met in records), records
    pids = {pid for _, pid, _, _ in records}
    threads = {(pid, ident) for _, pid, ident, _ in records}
    assert len(pids) == 2
    assert int(child.pid) not in {int(p) for p in pids}  # the supervisor runs no actor
    assert len(threads) == 6
    assert sorted(int(i) for i, _, _, _ in records) == list(range(12))


def test_sigterm_finishes_in_flight_and_requeues_the_rest(command, redis_server, redis_client, tmp_path):
    write_app(tmp_path)
    send(redis_server.url, "slow", *[(i,) for i in range(6)])
    child = command.start("app", "-p", "1", "-t", "2")
    wait_until(lambda: redis_client.llen("started") >= 2, "2 messages in flight", child)

    assert stop(child) == 0, child.describe()
    started = redis_client.lrange("started", 0, -1)
    done = redis_client.lrange("done", 0, -1)
    assert sorted(done) == sorted(started)  # every message that started has finished
    # The others are back on the queue, none is left in an ack set.
    assert redis_client.llen("dramatiq:default") + len(done) == 6
    assert not [k for k in redis_client.keys("dramatiq:__acks__*") if redis_client.scard(k)]

    # A second run processes what was requeued, and nothing twice.
    child = command.start("app", "-p", "1", "-t", "8")
    wait_until(lambda: redis_client.llen("done") >= 6, "the requeued messages processed", child)
    assert stop(child) == 0, child.describe()
    assert sorted(redis_client.lrange("done", 0, -1)) == [str(i) for i in range(6)]


def test_sigint_stops_gracefully_too(command, redis_server, redis_client, tmp_path):
    write_app(tmp_path)
    child = command.start("app", "-p", "1", "-t", "1")
    wait_ready(child, 1)
    assert stop(child, signal.SIGINT) == 0, child.describe()


def versions_seen(redis_client):
    return [line.split()[-1] for line in redis_client.lrange("done", 0, -1)]


def check_reload(command, redis_server, redis_client, tmp_path, extra_args, trigger):
    """v1 runs; the app is rewritten to v2; ``trigger`` restarts; v2 runs."""
    write_app(tmp_path)
    child = command.start("app", "-p", "1", "-t", "1", *extra_args)
    wait_ready(child, 1)
    send(redis_server.url, "record", (1,))
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed by v1", child)

    write_app(tmp_path, APP.replace('VERSION = "v1"', 'VERSION = "v2"'))
    trigger(child)
    wait_ready(child, 2, "the worker processes to restart")
    send(redis_server.url, "record", (2,))
    wait_until(lambda: redis_client.llen("done") >= 2, "a message processed after the restart", child)
    assert versions_seen(redis_client) == ["v1", "v2"]
    assert child.alive(), child.describe()  # the same supervisor process, re-executed
    assert stop(child) == 0, child.describe()


def test_sighup_restarts_workers_with_new_code(command, redis_server, redis_client, tmp_path):
    check_reload(command, redis_server, redis_client, tmp_path, [],
                 lambda child: child.process.send_signal(signal.SIGHUP))


@pytest.mark.parametrize("polling", [[], ["--watch-use-polling"]], ids=["notify", "polling"])
def test_watch_restarts_workers_when_source_changes(command, redis_server, redis_client, tmp_path, polling):
    pytest.importorskip("watchdog")
    # The rewrite of app.py in check_reload is the trigger.
    check_reload(command, redis_server, redis_client, tmp_path, ["--watch", str(tmp_path), *polling],
                 lambda child: None)


def test_watch_include_and_exclude_patterns(command, redis_server, redis_client, tmp_path):
    pytest.importorskip("watchdog")
    write_app(tmp_path)
    child = command.start("app", "-p", "1", "-t", "1", "--watch", str(tmp_path),
                          "--watch-include", "*.cfg", "--watch-exclude", "scratch_*.py")
    wait_ready(child, 1)
    send(redis_server.url, "record", (1,))
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed", child)

    # Changed in this order, one at a time: had the excluded .py file or the
    # .txt file (matches no include pattern) triggered a restart, its change
    # would be logged before the .cfg file's.
    write_app(tmp_path, "X = 1\n", name="scratch_notes.py")
    (tmp_path / "notes.txt").write_text("not watched\n")
    (tmp_path / "settings.cfg").write_text("[app]\n")
    wait_ready(child, 2, "the worker processes to restart")
    assert stop(child) == 0, child.describe()
    detected = re.findall(r"Detected changes to '([^']*)'", child.stderr())
    assert detected and all(os.path.basename(path) == "settings.cfg" for path in detected), detected


def test_queues_limits_consumption(command, redis_server, redis_client, tmp_path):
    write_app(tmp_path)
    send(redis_server.url, "record", (1,))
    send(redis_server.url, "other", (2,), queue_name="other")
    child = command.start("app", "-p", "1", "-t", "2", "-Q", "other")
    wait_until(lambda: redis_client.llen("other_done") >= 1, "the 'other' queue consumed", child)
    assert stop(child) == 0, child.describe()
    assert redis_client.llen("done") == 0
    assert redis_client.llen("dramatiq:default") == 1


def test_pid_file_is_written_and_removed(command, tmp_path):
    write_app(tmp_path)
    pid_file = tmp_path / "dramatiq.pid"
    child = command.start("app", "-p", "1", "-t", "1", "--pid-file", str(pid_file))
    wait_ready(child, 1)
    assert int(pid_file.read_text()) == child.pid
    assert stop(child) == 0, child.describe()
    assert not pid_file.exists()


def test_pid_file_of_a_running_process_is_refused(command, tmp_path):
    write_app(tmp_path)
    pid_file = tmp_path / "dramatiq.pid"
    pid_file.write_text(str(os.getpid()))  # this test process is alive
    child = command.run("app", "-p", "1", "--pid-file", str(pid_file))
    assert child.process.returncode == 4, child.describe()
    assert "already running with PID %d" % os.getpid() in child.stderr()
    assert pid_file.read_text() == str(os.getpid())


def test_pid_file_with_garbage_is_not_overwritten(command, tmp_path):
    write_app(tmp_path)
    pid_file = tmp_path / "settings.cfg"
    pid_file.write_text("[section]\nkey = value\n")
    child = command.run("app", "-p", "1", "--pid-file", str(pid_file))
    assert child.process.returncode == 4, child.describe()
    assert "does not contain a PID" in child.stderr()
    assert pid_file.read_text() == "[section]\nkey = value\n"


def test_unwritable_pid_file(command, tmp_path):
    write_app(tmp_path)
    child = command.run("app", "-p", "1", "--pid-file", str(tmp_path / "missing-dir" / "x.pid"))
    assert child.process.returncode == 4, child.describe()
    assert "Cannot write PID file" in child.stderr()


def test_stale_pid_file_is_replaced(command, tmp_path):
    write_app(tmp_path)
    pid_file = tmp_path / "dramatiq.pid"
    dead = redis_support.subprocess.Popen(["true"])
    dead.wait()
    pid_file.write_text(str(dead.pid))
    child = command.start("app", "-p", "1", "-t", "1", "--pid-file", str(pid_file))
    wait_ready(child, 1)
    assert int(pid_file.read_text()) == child.pid
    assert stop(child) == 0, child.describe()


@pytest.mark.parametrize(
    "args, source, named",
    [
        (["no_such_module_xyz"], None, "no_such_module_xyz"),
        (["app:no_such_broker"], APP, "Module 'app' does not define a 'no_such_broker' variable."),
        (["app:broker.no_such_attr"], APP, "Module 'app' does not define a 'broker.no_such_attr' variable."),
        (["app:"], APP, "Module 'app' does not define a '' variable."),
        (["app", "no_such_extra_module"], APP, "no_such_extra_module"),
        (["app"], "import dramatiq\ndef broken(:\n", "'app'"),
        (["app"], "raise RuntimeError('boom at import')\n", "'app'"),
        (["app:VERSION"], APP, "'app:VERSION' is not a Broker"),
    ],
    ids=["missing-module", "missing-broker", "missing-attribute-path", "empty-name", "missing-extra-module",
         "syntax-error", "raises", "not-a-broker"],
)
def test_import_errors_exit_2_naming_the_module(command, tmp_path, args, source, named):
    if source is not None:
        write_app(tmp_path, source)
    child = command.run(*args, "-p", "1")
    assert child.process.returncode == 2, child.describe()
    assert named in child.stderr(), child.describe()


@pytest.mark.parametrize("args", [["app", "-p", "many"], ["app", "--watch", "/no/such/dir"], []])
def test_bad_arguments_exit_2(command, tmp_path, args):
    write_app(tmp_path)
    child = command.run(*args)
    assert child.process.returncode == 2, child.describe()
    assert "usage: dramatiq" in child.stderr()


def test_version_prints_the_version_and_exits_0(command):
    child = command.run("--version")
    assert child.process.returncode == 0, child.describe()
    assert child.stdout() == dramatiq.__version__ + "\n"


def test_help_lists_every_flag_and_exits_0(command):
    child = command.run("--help")
    assert child.process.returncode == 0, child.describe()
    text = child.stdout()
    assert text.startswith("usage: dramatiq"), text
    flags = ["-p", "--processes", "-t", "--threads", "-P", "--path", "-Q", "--queues", "--pid-file",
             "--log-file", "--skip-logging", "--use-spawn", "-f", "--fork-function", "--worker-fork-timeout",
             "--worker-shutdown-timeout", "--watch", "--watch-use-polling", "--watch-include",
             "--watch-exclude", "-v", "--verbose", "--version", "-h", "--help"]
    # Each flag as a whole word of the usage or option list ("--watch" must
    # not be found only as the start of "--watch-include").
    missing = [flag for flag in flags if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(flag), text)]
    assert not missing, text


def test_dead_broker_at_startup_exits_3(command, tmp_path):
    write_app(tmp_path)
    dead_url = "redis://127.0.0.1:%d/0" % redis_support.free_port()
    child = command.run("app", "-p", "2", redis_url=dead_url)
    assert child.process.returncode == 3, child.describe()
    assert "Broker connection failed" in child.stderr()


HOOKS_APP = APP + '''

def fork_function():
    broker.client.rpush("hooks", "fork %d" % os.getpid())
    while True:
        time.sleep(0.1)


def cli_fork_function():
    broker.client.rpush("hooks", "cli-fork %d" % os.getpid())
    while True:
        time.sleep(0.1)


class Hooks(dramatiq.Middleware):
    @property
    def forks(self):
        return [fork_function]

    def after_process_boot(self, broker):
        broker.client.rpush("hooks", "boot %d" % os.getpid())

    def before_process_stop(self, broker):
        broker.client.rpush("hooks", "before_stop %d" % os.getpid())

    def after_process_stop(self, broker):
        broker.client.rpush("hooks", "after_stop %d" % os.getpid())


broker.add_middleware(Hooks())
'''


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_process_hooks_forks_and_log_file(command, redis_server, redis_client, tmp_path, start_method):
    write_app(tmp_path, HOOKS_APP)
    log_file = tmp_path / "dramatiq.log"
    extra = ["--use-spawn"] if start_method == "spawn" else []
    child = command.start("app", "-p", "2", "-t", "1", "--log-file", str(log_file),
                          "-f", "app:cli_fork_function", *extra)

    def hooks():
        return [line.split()[0] for line in redis_client.lrange("hooks", 0, -1)]

    wait_until(lambda: hooks().count("boot") == 2 and "fork" in hooks() and "cli-fork" in hooks(),
               "process_boot in both workers and both fork functions running", child)
    send(redis_server.url, "record", (1,))
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed", child)
    assert stop(child) == 0, child.describe()

    seen = hooks()
    assert seen.count("fork") == 1 and seen.count("cli-fork") == 1
    assert seen.count("before_stop") == 2 and seen.count("after_stop") == 2
    log = log_file.read_text()
    assert "Dramatiq '2.2.1' is booting up." in log
    assert "[dramatiq.WorkerProcess(0)]" in log and "[dramatiq.WorkerProcess(1)]" in log
    assert "[PID %d] [MainThread] [dramatiq.MainProcess]" % child.pid in log
    assert "Fork process 'app:cli_fork_function' is ready for action." in log
    assert "Worker process is ready for action." not in child.stderr()  # all in the file


def process_exited(pid):
    """No such process, or a zombie its new parent has not reaped yet."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_workers_stop_when_the_supervisor_is_killed(command, redis_server, redis_client, tmp_path):
    write_app(tmp_path)
    child = command.start("app", "-p", "1", "-t", "1")
    wait_ready(child, 1)
    send(redis_server.url, "record", (1,))
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed", child)
    worker_pid = int(redis_client.lindex("done", 0).split()[1])
    # The worker holds only the write end of its log pipe (a read end would
    # keep the pipe open after the supervisor dies, and a full pipe blocks).
    fds = {fd: os.readlink("/proc/%d/fd/%s" % (worker_pid, fd)) for fd in os.listdir("/proc/%d/fd" % worker_pid)}
    assert sorted(fd for fd, target in fds.items() if target == fds["2"]) == ["1", "2"], fds
    child.kill()  # SIGKILL: the supervisor cannot pass anything on

    wait_until(lambda: process_exited(worker_pid), "the orphaned worker process to exit", child)


FOREVER_FORK_APP = APP + '''

def forever():
    """A fork function that only stops when told to."""
    broker.client.rpush("forks", os.getpid())
    while True:
        time.sleep(0.1)
'''


def test_fork_processes_stop_when_the_supervisor_is_killed(command, redis_server, redis_client, tmp_path):
    write_app(tmp_path, FOREVER_FORK_APP)
    child = command.start("app", "-p", "1", "-t", "1", "-f", "app:forever")
    wait_until(lambda: redis_client.llen("forks") >= 1, "the fork function to run", child)
    fork_pid = int(redis_client.lindex("forks", 0))
    child.kill()  # SIGKILL: the supervisor cannot pass anything on

    wait_until(lambda: process_exited(fork_pid), "the orphaned fork process to exit", child)


# The broker argument: ``module:factory`` and ``module:attribute``.  The
# global broker is a StubBroker in both apps: had the command used it
# instead of the one named, nothing would reach Redis.

FACTORY_APP = '''
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

dramatiq.set_broker(StubBroker())


def setup_broker():
    broker = RedisBroker(url=os.environ["REDIS_URL"])
    broker.client.rpush("setups", os.getpid())
    dramatiq.set_broker(broker)


def make_broker():
    setup_broker()
    return dramatiq.get_broker()
'''

#: Declares its actor on the global broker when imported, so it must be
#: imported after the factory ran (``dramatiq app:factory tasks``).
TASKS = '''
import os

import dramatiq


@dramatiq.actor
def record(i):
    dramatiq.get_broker().client.rpush("done", "%s %d" % (i, os.getpid()))
'''


@pytest.mark.parametrize("factory", ["setup_broker", "make_broker"])
def test_broker_factory_runs_in_each_worker_before_the_other_modules(command, redis_server, redis_client,
                                                                      tmp_path, factory):
    # setup_broker only sets the global broker up (returns None);
    # make_broker also returns it.
    write_app(tmp_path, FACTORY_APP)
    write_app(tmp_path, TASKS, name="tasks.py")
    child = command.start("app:" + factory, "tasks", "-p", "2", "-t", "1")
    wait_ready(child, 2)
    send(redis_server.url, "record", *[(i,) for i in range(4)])
    wait_until(lambda: redis_client.llen("done") >= 4, "4 messages processed", child)
    assert stop(child) == 0, child.describe()

    # Called once in each worker process, never in the supervisor.
    assert sorted(int(pid) for pid in redis_client.lrange("setups", 0, -1)) == sorted(ready_pids(child).values())
    assert sorted(int(line.split()[0]) for line in redis_client.lrange("done", 0, -1)) == [0, 1, 2, 3]


ATTRIBUTE_APP = '''
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

dramatiq.set_broker(StubBroker())


class services:
    broker = RedisBroker(url=os.environ["REDIS_URL"])


redis_broker = services.broker


@dramatiq.actor(broker=services.broker)
def record(i):
    services.broker.client.rpush("done", i)
'''


@pytest.mark.parametrize("name", ["redis_broker", "services.broker"])
def test_broker_attribute_is_the_broker_used(command, redis_server, redis_client, tmp_path, name):
    write_app(tmp_path, ATTRIBUTE_APP)
    send(redis_server.url, "record", (1,))
    child = command.start("app:" + name, "-p", "1", "-t", "1")
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed", child)
    assert stop(child) == 0, child.describe()


# Logging.

LOGGING_APP = APP + '''
import logging

# What an application that configures its own logging does at import time.
# basicConfig does nothing if the root logger already has a handler.
logging.basicConfig(level=logging.DEBUG, format="APP %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("app.tasks")


@dramatiq.actor
def chatty(i):
    log.debug("debug from actor %s", i)
    log.info("info from actor %s", i)
    broker.client.rpush("done", "%s %d" % (i, os.getpid()))
'''


@pytest.mark.parametrize("to_file", [False, True], ids=["stderr", "log-file"])
def test_skip_logging_leaves_logging_to_the_application(command, redis_server, redis_client, tmp_path, to_file):
    write_app(tmp_path, LOGGING_APP)
    log_file = tmp_path / "dramatiq.log"
    child = command.start("app", "-p", "1", "-t", "1", "--skip-logging",
                          *(["--log-file", str(log_file)] if to_file else []))

    def output():
        if not to_file:
            return child.stderr()
        return log_file.read_text() if log_file.exists() else ""

    ready = "APP INFO dramatiq.WorkerProcess(0): Worker process is ready for action."
    wait_until(lambda: ready in output() or not child.alive(), "the worker process to boot", child)
    send(redis_server.url, "chatty", (1,))
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed", child)
    assert stop(child) == 0, child.describe()

    # The application's format and level (DEBUG) apply, in the worker
    # process's own records and in the actor's.  What the application's
    # handler writes to standard error still goes where --log-file says.
    text = output()
    if to_file:
        assert child.stderr() == "", child.describe()
    assert ready in text
    assert "APP DEBUG app.tasks: debug from actor 1" in text
    assert "APP INFO app.tasks: info from actor 1" in text
    # The command formats nothing; the supervisor configures no handler
    # (upstream's does not either, its INFO records go nowhere).
    assert "[PID " not in text and "booting up" not in text, text


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vv"]])
def test_verbose_enables_debug_and_lines_name_process_and_thread(command, redis_server, redis_client, tmp_path,
                                                                 verbose):
    # The same app without --skip-logging: the command's configuration
    # comes first, the application's basicConfig changes nothing.
    write_app(tmp_path, LOGGING_APP)
    child = command.start("app", "-p", "1", "-t", "2", *verbose)
    wait_ready(child, 1)
    send(redis_server.url, "chatty", (1,))
    wait_until(lambda: redis_client.llen("done") >= 1, "a message processed", child)
    assert stop(child) == 0, child.describe()

    text = child.stderr()
    assert "APP " not in text, text
    worker_pid = int(redis_client.lindex("done", 0).split()[1])
    assert ready_pids(child) == {0: worker_pid}
    # The actor's line: the worker's PID and the name of the engine thread
    # that ran it, not the worker process's main thread.
    info = re.findall(r"^\[[^]]+\] \[PID (\d+)\] \[([^]]+)\] \[app\.tasks\] \[INFO\] info from actor 1$", text, re.M)
    assert len(info) == 1, text
    assert int(info[0][0]) == worker_pid and info[0][1] != "MainThread", info
    assert "[PID %d] [MainThread] [dramatiq.MainProcess] [INFO] Sending signal 'SIGTERM'" % child.pid in text

    debug = re.findall(r"\[PID %d\] \[[^]]+\] \[app\.tasks\] \[DEBUG\] debug from actor 1$" % worker_pid, text, re.M)
    assert len(debug) == (1 if verbose else 0), text
    # The worker process's own debug records follow the same switch.
    assert ("[dramatiq.WorkerProcess(0)] [DEBUG] Loading broker" in text) == bool(verbose), text


# Stopping.

HANG_APP = APP + '''

@dramatiq.actor
def hang(i):
    # Still running when the worker is stopped: 120 s is far beyond every
    # wait of the test (and the process exits long before).
    broker.client.rpush("started", i)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.05)
    broker.client.rpush("done", i)
'''


def test_worker_shutdown_timeout_bounds_a_graceful_stop(command, redis_server, redis_client, tmp_path):
    # Upstream 2.2.1 exits 0 once the timeout has passed, leaving the
    # unfinished message unacknowledged (in its ack set, for the broker to
    # requeue when the worker's heartbeat expires).  stop() waits WAIT (30 s)
    # at most: without the 1 s timeout, the default 10 minutes would apply.
    write_app(tmp_path, HANG_APP)
    send(redis_server.url, "hang", (1,))
    child = command.start("app", "-p", "1", "-t", "1", "--worker-shutdown-timeout", "1000")
    wait_until(lambda: redis_client.llen("started") >= 1, "the message running", child)

    assert stop(child) == 0, child.describe()
    assert redis_client.llen("done") == 0  # it never finished
    # Not lost: unacknowledged, so the broker can still requeue it.
    unacked = [m for k in redis_client.keys("dramatiq:__acks__*") for m in redis_client.smembers(k)]
    assert len(unacked) == 1, unacked
    assert redis_client.hexists("dramatiq:default.msgs", unacked[0])


def test_ctrl_c_stops_an_idle_command_and_all_its_processes(command, redis_server, redis_client, tmp_path):
    # SIGINT to the whole process group, as a terminal sends it.
    write_app(tmp_path)
    child = command.start("app", "-p", "2", "-t", "1", new_session=True)
    wait_ready(child, 2)
    pids = ready_pids(child)
    ctrl_c(child)
    assert exits_within(child) == 0, child.describe()
    for pid in pids.values():  # no worker process outlives the command
        wait_until(lambda: process_gone(pid), "worker process %d to exit" % pid, child)


def test_a_second_ctrl_c_stops_a_command_waiting_for_a_long_actor(command, redis_server, redis_client, tmp_path):
    # As upstream 2.2.1: the first Ctrl-C asks for a graceful stop, which
    # waits for the running actor (up to the 10-minute shutdown timeout);
    # the second one kills the workers, and the command exits at once.
    write_app(tmp_path, HANG_APP)
    send(redis_server.url, "hang", (1,))
    child = command.start("app", "-p", "1", "-t", "1", new_session=True)
    wait_until(lambda: redis_client.llen("started") >= 1, "the message running", child)
    pids = ready_pids(child)
    ctrl_c(child)
    wait_until(lambda: "Stopping worker process..." in child.stderr(), "the graceful stop to begin", child)
    assert child.alive(), child.describe()  # still waiting for hang()
    ctrl_c(child)
    assert exits_within(child) != 0, child.describe()
    for pid in pids.values():
        wait_until(lambda: process_gone(pid), "worker process %d to exit" % pid, child)
    assert redis_client.llen("done") == 0


def test_a_killed_worker_process_stops_the_command_with_exit_1(command, redis_server, redis_client, tmp_path):
    # As upstream 2.2.1: no restart; the supervisor logs which worker died,
    # stops the others gracefully and exits 1 (killed).
    write_app(tmp_path)
    child = command.start("app", "-p", "2", "-t", "1")
    wait_ready(child, 2)
    pids = ready_pids(child)
    os.kill(pids[0], signal.SIGKILL)
    try:
        code = child.process.wait(WAIT)
    except Exception:
        raise AssertionError("dramatiq did not exit after a worker was killed:\n" + child.describe())
    assert code == 1, child.describe()

    text = child.stderr()
    assert "Worker with PID %d exited unexpectedly (code -9). Shutting down..." % pids[0] in text, text
    # The other worker went through its graceful stop.
    assert "[PID %d] [MainThread] [dramatiq.worker.Worker] [INFO] Worker has been shut down." % pids[1] in text, text


@pytest.mark.parametrize("value, text", [
    ("abc", "worker-fork-timeout be a number."),
    ("5", "worker-fork-timeout too small (minimum recommended: 10ms)."),
    ("1800001", "worker-fork-timeout too large (maximum: 30 minutes)."),
])
def test_a_bad_worker_fork_timeout_is_refused_with_upstreams_message(tmp_path, value, text):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "dramatiq", "app", "--worker-fork-timeout", value],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 2
    assert text in proc.stderr
