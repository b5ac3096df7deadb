"""The main job: `dramatiq` worker processes processing real tasks, on the
embedded broker (no server), or on Redis when REDIS_URL is set.

Run: python3 examples/main_job.py [number_of_tasks]

With nothing set it uses the embedded SQLite broker on a file in a fresh
temporary directory (named by DRAMATIQ_BROKER_URL, which `dramatiq.get_broker()`
reads in this process and in the worker processes alike). With REDIS_URL set
it uses that Redis server instead; REDIS_URL=private starts a private
redis-server (the Debian package scripts/setup.sh installs) on a free
loopback port. Then it sends the tasks, runs the worker command on this very
module — `python -m dramatiq main_job -P examples -p 2 -t 8`, two worker
processes of eight threads — waits until the queues are drained, stops the
command with SIGTERM (a graceful shutdown) and checks what the actors did.
The actors keep their tallies outside the worker processes: one line per
task appended to files in the job's directory (embedded broker) or counters
in Redis.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dramatiq
from dramatiq.middleware import CurrentMessage

if os.environ.get("REDIS_URL") and os.environ["REDIS_URL"] != "private":
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=os.environ["REDIS_URL"])
    dramatiq.set_broker(broker)
else:
    # The embedded broker, as DRAMATIQ_BROKER_URL names it (set by main()).
    broker = dramatiq.get_broker()
broker.add_middleware(CurrentMessage())


def tally(key, amount):
    """Adds `amount` to the job's counter `key` (from any process)."""
    if os.environ.get("REDIS_URL"):
        broker.client.incrby("main_job:" + key, amount)
        return
    # One short line per call, appended with O_APPEND: whole lines even
    # from many processes at once.
    fd = os.open(os.path.join(os.environ["MAIN_JOB_DIR"], key), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"%d\n" % amount)
    finally:
        os.close(fd)


def totals(keys):
    if os.environ.get("REDIS_URL"):
        return {key: int(broker.client.get("main_job:" + key) or 0) for key in keys}
    result = {}
    for key in keys:
        try:
            with open(os.path.join(os.environ["MAIN_JOB_DIR"], key)) as f:
                result[key] = sum(int(line) for line in f)
        except FileNotFoundError:
            result[key] = 0
    return result


@dramatiq.actor
def add(x, y):
    tally("sum", x + y)


@dramatiq.actor(queue_name="text")
def count_words(text):
    tally("words", len(text.split()))


@dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=50)
def flaky(n):
    # Asks for a retry on its first attempt, then succeeds: Retries at work.
    if CurrentMessage.get_current_message().options.get("retries", 0) == 0:
        tally("retried", 1)
        raise dramatiq.Retry("transient failure %d" % n, delay=10)


def start_private_redis():
    """A redis-server on a free loopback port; returns (process, url, dir)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="main-job-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return process, "redis://127.0.0.1:%d/0" % port, directory
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("redis-server did not start (run scripts/setup.sh first)")


def rerun_with(env):
    """Runs this script again with `env` (the broker above was chosen at import)."""
    return subprocess.call([sys.executable, *sys.argv], env=dict(os.environ, **env))


def main() -> None:
    if os.environ.get("REDIS_URL") == "private":
        server, url, directory = start_private_redis()
        try:
            sys.exit(rerun_with({"REDIS_URL": url}))
        finally:
            server.terminate()
            server.wait(30)
            shutil.rmtree(directory, ignore_errors=True)
    if not os.environ.get("REDIS_URL") and "MAIN_JOB_DIR" not in os.environ:
        directory = tempfile.mkdtemp(prefix="main-job-")
        try:
            sys.exit(rerun_with({"MAIN_JOB_DIR": directory,
                                 "DRAMATIQ_BROKER_URL": "sqlite://" + os.path.join(directory, "broker.sqlite3")}))
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    print("broker:", type(broker).__name__, getattr(broker, "path", ""), flush=True)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    if os.environ.get("REDIS_URL"):
        broker.client.delete("main_job:sum", "main_job:words", "main_job:retried")
    started = time.perf_counter()
    group = dramatiq.group([add.message(i, 1) for i in range(n)]
                           + [count_words.message("the quick brown fox jumps") for _ in range(100)])
    group.run()
    for i in range(10):
        flaky.send(i)
    sent = time.perf_counter()

    here = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, "-m", "dramatiq", "main_job", "-P", here, "-p", "2", "-t", "8"]
    print("running:", " ".join(["dramatiq", *command[3:]]), flush=True)
    workers = subprocess.Popen(command)
    try:
        for queue_name in ("default", "text"):
            broker.join(queue_name, timeout=300_000)
    finally:
        workers.send_signal(signal.SIGTERM)
        exit_code = workers.wait(120)
    done = time.perf_counter()

    found = totals(("sum", "words", "retried"))
    expected = {"sum": sum(i + 1 for i in range(n)), "words": 500, "retried": 10}
    print(f"sent {n + 110} messages in {sent - started:.2f}s; processed in {done - sent:.2f}s "
          f"(including worker start-up); the worker command exited with {exit_code}")
    for key in expected:
        print(f"{key}={found[key]} (expected {expected[key]})")
    ok = found == expected and exit_code == 0
    print("OK" if ok else "MISMATCH")
    broker.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
