"""The seed's queue-monitoring snippet (``monitor_message_queues``), run
as written against a RedisBroker.

The snippet's monitor is an endless daemon thread that prints, so it runs
in a child process of the interpreter under test (its output cannot leak
into other tests, and the thread ends with the process).  The only
changes: the interval is 0.05 s instead of 5 s, the names the snippet
leaves undefined (``broker``, ``debug_task``) come from the seed's
earlier snippets, and the harness waits on what the monitor has printed
before moving on (instead of sleeping), then runs a worker to drain the
queue.

What upstream Dramatiq 2.2.1 prints: ``broker.client`` is a redis-py
client, and the snippet calls ``llen`` on ``<ns>:<queue>.msgs``, which
is a hash.  While the queue is empty the key does not exist and LLEN
answers 0; while messages wait, Redis answers WRONGTYPE and the snippet
prints its error line.
"""

import subprocess
import textwrap

from redis_support import our_python, subprocess_env

SNIPPET_RUN = textwrap.dedent(
    '''
    import os
    import sys
    import threading
    import time

    import dramatiq
    from dramatiq.brokers.redis import RedisBroker


    class StdoutRecorder:
        """Passes writes through to the real stdout and remembers them, so the
        harness can wait for what the monitor has printed."""

        def __init__(self, out):
            self.out = out
            self.lock = threading.Lock()
            self.text = ""

        def write(self, s):
            with self.lock:
                self.text += s
                self.out.write(s)
                self.out.flush()
            return len(s)

        def flush(self):
            self.out.flush()

        def count(self, line):
            with self.lock:
                return self.text.splitlines().count(line)


    def wait_for(predicate, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                sys.__stderr__.write("timed out waiting for " + what + "\\n")
                sys.__stderr__.flush()
                os._exit(3)
            time.sleep(0.01)


    recorder = sys.stdout = StdoutRecorder(sys.__stdout__)
    IDLE = "Queue 'default': 0 messages"
    ERROR = "Error monitoring queues: WRONGTYPE Operation against a key holding the wrong kind of value"

    broker = RedisBroker(url=sys.argv[1])
    dramatiq.set_broker(broker)


    # -- from the seed ------------------------------------------------------------------------
    @dramatiq.actor
    def debug_task(data, option=None):
        return f"Debug: {data} with {option}"


    def monitor_message_queues(broker, interval=5):
        """Monitor message queues for debugging"""
        def queue_stats():
            while True:
                try:
                    # Get queue information (broker-specific)
                    if hasattr(broker, 'client') and hasattr(broker.client, 'info'):
                        # Redis broker
                        for queue_name in broker.queues:
                            key = f"{broker.namespace}:{queue_name}.msgs"
                            length = broker.client.llen(key)
                            print(f"Queue '{queue_name}': {length} messages")
                    print("---")
                    time.sleep(interval)
                except Exception as e:
                    print(f"Error monitoring queues: {e}")
                    time.sleep(interval)

        monitor_thread = threading.Thread(target=queue_stats, daemon=True)
        monitor_thread.start()
        return monitor_thread

    # Start queue monitoring
    monitor_thread = monitor_message_queues(broker, interval=0.05)
    wait_for(lambda: recorder.count("---") >= 2, "two reports of the idle queue")
    # Send some messages to observe
    for i in range(20):
        debug_task.send(f"message_{i}")
    # -- end of the seed ----------------------------------------------------------------------

    wait_for(lambda: recorder.count(ERROR) >= 2, "two reports while messages wait")
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    broker.join("default", timeout=30000)
    idle_before = recorder.count(IDLE)
    wait_for(lambda: recorder.count(IDLE) >= idle_before + 2, "two reports of the drained queue")
    worker.stop()
    sys.__stdout__.flush()
    os._exit(0)  # the monitor is an endless daemon thread
    '''
)


def run_snippet(tmp_path, url):
    script = tmp_path / "seed_monitor.py"
    script.write_text(SNIPPET_RUN)
    return subprocess.run(
        [our_python(), str(script), url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        env=subprocess_env(upstream=False),
    )


def test_seed_monitor_message_queues(redis_server, tmp_path):
    proc = run_snippet(tmp_path, redis_server.url)
    assert proc.returncode == 0, proc.stderr

    idle = "Queue 'default': 0 messages"
    error = "Error monitoring queues: WRONGTYPE Operation against a key holding the wrong kind of value"
    lines = proc.stdout.splitlines()
    assert set(lines) == {idle, "---", error}, proc.stdout

    # One letter per report: I = "0 messages" + "---", E = the error line.
    reports = []
    i = 0
    while i < len(lines):
        if lines[i] == idle:
            # os._exit may land between a report's two prints: only the
            # very last report may lack its "---".
            assert i + 1 == len(lines) or lines[i + 1] == "---", proc.stdout
            reports.append("I")
            i += 2
        else:
            assert lines[i] == error, proc.stdout
            reports.append("E")
            i += 1
    shape = "".join(reports)
    # Idle before the sends, errors while the 20 messages wait in the
    # .msgs hash, idle again once the worker has drained it.
    first_error, last_error = shape.index("E"), shape.rindex("E")
    assert shape[:first_error] == "I" * first_error and first_error >= 2, shape
    assert set(shape[first_error : last_error + 1]) == {"E"} and last_error - first_error >= 1, shape
    assert shape[last_error + 1 :] == "I" * (len(shape) - last_error - 1), shape
    assert len(shape) - last_error - 1 >= 2, shape

    # The worker processed everything and the keys are gone.
    with redis_server.client() as client:
        assert client.hlen("dramatiq:default.msgs") == 0
        assert client.llen("dramatiq:default") == 0
