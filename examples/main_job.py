"""The main job: `dramatiq` worker processes processing real tasks on Redis.

Run: python3 examples/main_job.py [number_of_tasks]

Without REDIS_URL set, it starts a private redis-server (the Debian package
scripts/setup.sh installs) on a free loopback port in a temporary directory.
Then it sends the tasks, runs the worker command on this very module —
`python -m dramatiq main_job -P examples -p 2 -t 8`, two worker processes of
eight threads — waits until the queues are drained, stops the command with
SIGTERM (a graceful shutdown) and checks what the actors did. The actors keep
their totals in Redis, since they run in other processes.
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
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

broker = RedisBroker(url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)


@dramatiq.actor
def add(x, y):
    broker.client.incrby("main_job:sum", x + y)


@dramatiq.actor(queue_name="text")
def count_words(text):
    broker.client.incrby("main_job:words", len(text.split()))


@dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=50)
def flaky(n):
    # Asks for a retry on its first attempt, then succeeds: Retries at work.
    if CurrentMessage.get_current_message().options.get("retries", 0) == 0:
        broker.client.incr("main_job:retried")
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


def main() -> None:
    if "REDIS_URL" not in os.environ:
        # Re-run this script against a private server (the broker above was
        # built from REDIS_URL at import).
        server, url, directory = start_private_redis()
        try:
            env = dict(os.environ, REDIS_URL=url)
            sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))
        finally:
            server.terminate()
            server.wait(30)
            shutil.rmtree(directory, ignore_errors=True)

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    client = broker.client
    client.delete("main_job:sum", "main_job:words", "main_job:retried")
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

    totals = {key: int(client.get("main_job:" + key) or 0) for key in ("sum", "words", "retried")}
    expected = {"sum": sum(i + 1 for i in range(n)), "words": 500, "retried": 10}
    print(f"sent {n + 110} messages in {sent - started:.2f}s; processed in {done - sent:.2f}s "
          f"(including worker start-up); the worker command exited with {exit_code}")
    for key in expected:
        print(f"{key}={totals[key]} (expected {expected[key]})")
    ok = totals == expected and exit_code == 0
    print("OK" if ok else "MISMATCH")
    broker.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
