"""Workers: lifecycle, concurrency, priorities, delays and shutdown."""

import os
import subprocess
import sys
import threading
import time

import pytest

import dramatiq


def wait_for(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- lifecycle ----------------------------------------------------------------------


def test_worker_processes_messages_sent_before_start(stub_broker, make_worker):
    seen = []

    @dramatiq.actor
    def record(i):
        seen.append(i)

    for i in range(5):
        record.send(i)
    assert seen == []

    worker = make_worker()
    stub_broker.join("default")
    worker.join()
    assert sorted(seen) == list(range(5))


def test_worker_consumes_queues_declared_after_start(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor(queue_name="late")
    def record(i):
        seen.append(i)

    record.send(1)
    stub_broker.join("late")
    stub_worker.join()
    assert seen == [1]


def test_stopped_worker_processes_nothing(stub_broker, make_worker):
    seen = []

    @dramatiq.actor
    def record(i):
        seen.append(i)

    worker = make_worker()
    record.send(1)
    stub_broker.join("default")
    worker.join()
    make_worker.stop(worker)

    record.send(2)
    time.sleep(0.3)
    assert seen == [1]
    assert stub_broker.queues["default"].qsize() == 1


def test_worker_can_be_restarted_with_a_new_worker(stub_broker, make_worker):
    seen = []

    @dramatiq.actor
    def record(i):
        seen.append(i)

    first = make_worker(worker_threads=1)
    record.send(1)
    stub_broker.join("default")
    first.join()
    make_worker.stop(first)

    second = make_worker(worker_threads=1)
    record.send(2)
    stub_broker.join("default")
    second.join()
    assert seen == [1, 2]


def test_pause_and_resume(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def record(i):
        seen.append(i)

    stub_worker.pause()
    record.send(1)
    time.sleep(0.3)
    assert seen == []
    assert stub_broker.queues["default"].qsize() == 1

    stub_worker.resume()
    stub_broker.join("default")
    stub_worker.join()
    assert seen == [1]


def test_join_waits_for_delayed_messages(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def record(i):
        seen.append(i)

    record.send_with_options(args=(1,), delay=200)
    stub_broker.join("default")
    stub_worker.join()
    assert seen == [1]


def test_worker_threads_run_concurrently(stub_broker, make_worker):
    barrier = threading.Barrier(4, timeout=5)
    passed = []

    @dramatiq.actor
    def rendezvous():
        barrier.wait()
        passed.append(True)

    worker = make_worker(worker_threads=4)
    for _ in range(4):
        rendezvous.send()
    stub_broker.join("default")
    worker.join()
    assert len(passed) == 4


def test_worker_queue_whitelist(stub_broker, make_worker):
    seen = []

    @dramatiq.actor(queue_name="wanted")
    def wanted():
        seen.append("wanted")

    @dramatiq.actor(queue_name="ignored")
    def ignored():
        seen.append("ignored")

    worker = make_worker(queues={"wanted"})
    wanted.send()
    ignored.send()
    stub_broker.join("wanted")
    worker.join()
    time.sleep(0.2)
    assert seen == ["wanted"]
    assert stub_broker.queues["ignored"].qsize() == 1


def test_worker_queue_whitelist_includes_delay_queue(stub_broker, make_worker):
    seen = []

    @dramatiq.actor(queue_name="wanted")
    def wanted():
        seen.append("wanted")

    worker = make_worker(queues={"wanted"})
    wanted.send_with_options(delay=100)
    stub_broker.join("wanted")
    worker.join()
    assert seen == ["wanted"]


def test_worker_lists_its_consumers_and_worker_threads(stub_broker, make_worker):
    thread_idents = set()

    @dramatiq.actor(queue_name="wanted")
    def wanted():
        thread_idents.add(threading.get_ident())

    worker = make_worker(queues={"wanted"}, worker_threads=3, start=False)
    assert worker.consumers == {} and worker.workers == []
    make_worker.start(worker)
    stub_broker.declare_queue("other")
    assert sorted(worker.consumers) == ["wanted", "wanted.DQ"]
    assert worker.consumers["wanted"].queue_name == "wanted"
    idents = [thread.ident for thread in worker.workers]
    assert len(set(idents)) == 3

    wanted.send()
    stub_broker.join("wanted")
    worker.join()
    assert thread_idents <= set(idents)
    make_worker.stop(worker)
    assert worker.workers == []


def test_queue_prefetch_constant_set_before_a_worker_is_built(stub_broker, monkeypatch):
    # As upstream reads dramatiq.worker.QUEUE_PREFETCH when a Worker is built.
    import dramatiq.worker

    monkeypatch.setattr(dramatiq.worker, "QUEUE_PREFETCH", 20)
    monkeypatch.setattr(dramatiq.worker, "DELAY_QUEUE_PREFETCH", 30)
    worker = dramatiq.Worker(stub_broker, worker_threads=1)
    assert (worker.queue_prefetch, worker.delay_prefetch) == (20, 30)


# -- failures ------------------------------------------------------------------------


def test_worker_keeps_going_after_actor_raises(stub_broker, make_worker):
    seen = []

    @dramatiq.actor(max_retries=0)
    def explode(i):
        raise RuntimeError("boom %d" % i)

    @dramatiq.actor
    def record(i):
        seen.append(i)

    worker = make_worker(worker_threads=1)
    for i in range(3):
        explode.send(i)
        record.send(i)
    stub_broker.join("default", fail_fast=False)
    worker.join()
    assert sorted(seen) == [0, 1, 2]
    assert len(stub_broker.dead_letters) == 3


def test_worker_keeps_going_after_base_exception(stub_broker, make_worker):
    seen = []

    class Fatal(BaseException):
        pass

    @dramatiq.actor(max_retries=0)
    def explode():
        raise Fatal()

    @dramatiq.actor
    def record(i):
        seen.append(i)

    worker = make_worker(worker_threads=1)
    explode.send()
    record.send(1)
    stub_broker.join("default", fail_fast=False)
    worker.join()
    assert seen == [1]
    assert len(stub_broker.dead_letters) == 1


# -- ordering ------------------------------------------------------------------------


def test_priority_ordering_with_one_thread(stub_broker, make_worker):
    started = threading.Event()
    release = threading.Event()
    order = []

    @dramatiq.actor(queue_name="blocking")
    def blocker():
        started.set()
        release.wait(5)

    @dramatiq.actor(queue_name="low", priority=100)
    def low(i):
        order.append(("low", i))

    @dramatiq.actor(queue_name="high", priority=0)
    def high(i):
        order.append(("high", i))

    @dramatiq.actor(queue_name="mid", priority=50)
    def mid(i):
        order.append(("mid", i))

    worker = make_worker(worker_threads=1)
    blocker.send()
    assert started.wait(5)

    # With one worker thread each consumer prefetches up to two messages.
    for i in range(2):
        low.send(i)
    for i in range(2):
        mid.send(i)
    for i in range(2):
        high.send(i)
    assert wait_for(lambda: all(stub_broker.queues[q].qsize() == 0 for q in ("low", "mid", "high")))
    time.sleep(0.1)

    release.set()
    for queue_name in ("blocking", "low", "mid", "high"):
        stub_broker.join(queue_name)
    worker.join()
    assert [name for name, _ in order] == ["high", "high", "mid", "mid", "low", "low"]


def test_messages_waiting_when_a_paused_worker_resumes_run_by_priority(stub_broker, monkeypatch):
    # The consumer hands what the broker already holds to the work queue as
    # one batch, so the single worker thread starts with the highest
    # priority rather than whichever message was handed over first
    # (upstream's test_actors_can_prioritize_work).
    monkeypatch.setattr(dramatiq.worker, "QUEUE_PREFETCH", 20)
    calls = []

    @dramatiq.actor(priority=0)
    def hi():
        calls.append("hi")

    @dramatiq.actor(priority=10)
    def lo():
        calls.append("lo")

    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        worker.pause()
        for _ in range(10):
            lo.send()
            hi.send()
        worker.resume()
        stub_broker.join(lo.queue_name)
        worker.join()
    finally:
        worker.stop()
    assert calls == ["hi"] * 10 + ["lo"] * 10


def test_equal_priority_is_roughly_fifo(stub_broker, make_worker):
    order = []

    @dramatiq.actor
    def record(i):
        order.append(i)

    for i in range(10):
        record.send(i)
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()
    assert order == list(range(10))


def test_delayed_message_runs_after_delay(stub_broker, stub_worker):
    ran_at = []

    @dramatiq.actor
    def record():
        ran_at.append(time.time() * 1000)

    sent_at = time.time() * 1000
    message = record.send_with_options(delay=300)
    stub_broker.join("default")
    stub_worker.join()
    assert len(ran_at) == 1
    assert ran_at[0] >= message.options["eta"]
    assert ran_at[0] - sent_at >= 299


def test_delayed_messages_run_in_eta_order(stub_broker, make_worker):
    order = []

    @dramatiq.actor
    def record(i):
        order.append(i)

    record.send_with_options(args=(3,), delay=450)
    record.send_with_options(args=(1,), delay=50)
    record.send_with_options(args=(2,), delay=250)
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()
    assert order == [1, 2, 3]


def test_undelayed_message_overtakes_delayed_one(stub_broker, stub_worker):
    order = []

    @dramatiq.actor
    def record(i):
        order.append(i)

    record.send_with_options(args=("late",), delay=300)
    record.send("now")
    stub_broker.join("default")
    stub_worker.join()
    assert order == ["now", "late"]


# -- prefetch and shutdown -------------------------------------------------------------


def test_prefetch_is_twice_the_worker_threads(stub_broker, make_worker):
    started = threading.Event()
    release = threading.Event()

    @dramatiq.actor
    def slow(i):
        started.set()
        release.wait(5)

    for i in range(10):
        slow.send(i)
    worker = make_worker(worker_threads=1)
    try:
        assert started.wait(5)
        # One message is being processed and one more is prefetched.
        assert wait_for(lambda: stub_broker.queues["default"].qsize() <= 8)
        time.sleep(0.3)
        assert stub_broker.queues["default"].qsize() == 8
    finally:
        release.set()
    stub_broker.join("default")
    worker.join()


PREFETCH_SCRIPT = r"""
import threading, time
import dramatiq
from dramatiq.brokers.stub import StubBroker
broker = StubBroker()
dramatiq.set_broker(broker)
release = threading.Event()

@dramatiq.actor
def slow(i):
    release.wait(10)

for i in range(10):
    slow.send(i)
worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
worker.start()
deadline = time.monotonic() + 10
while broker.queues["default"].qsize() > 5 and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.3)
print(worker.queue_prefetch, broker.queues["default"].qsize())
release.set()
worker.stop()
"""


def test_queue_prefetch_from_the_environment():
    # As upstream: $dramatiq_queue_prefetch replaces the default window
    # (read at import time, hence a fresh interpreter).
    env = dict(os.environ, dramatiq_queue_prefetch="5")
    proc = subprocess.run([sys.executable, "-c", PREFETCH_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["5", "5"]


def test_worker_settings_default_to_the_engines(stub_broker, monkeypatch):
    for name in ("dramatiq_worker_timeout", "dramatiq_queue_prefetch", "dramatiq_delay_queue_prefetch"):
        monkeypatch.delenv(name, raising=False)
    worker = dramatiq.Worker(stub_broker)
    assert (worker.worker_timeout, worker.worker_threads) == (1000, 8)
    assert (worker.queue_prefetch, worker.delay_prefetch) == (16, 8000)
    given = dramatiq.Worker(stub_broker, worker_timeout=40, worker_threads=3)
    assert (given.worker_timeout, given.worker_threads) == (40, 3)
    assert (given.queue_prefetch, given.delay_prefetch) == (6, 3000)


WORKER_TIMEOUT_SCRIPT = r"""
import dramatiq
from dramatiq.brokers.stub import StubBroker
import dramatiq.worker
broker = StubBroker()
print(dramatiq.worker.WORKER_TIMEOUT,
      dramatiq.Worker(broker).worker_timeout,
      dramatiq.Worker(broker, worker_timeout=40).worker_timeout)
"""


def run_worker_timeout_script(python, timeout_variable):
    env = dict(os.environ)
    env.pop("dramatiq_worker_timeout", None)
    if timeout_variable is not None:
        env["dramatiq_worker_timeout"] = timeout_variable
    return subprocess.run([python, "-c", WORKER_TIMEOUT_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=60, cwd="/")


@pytest.mark.parametrize("timeout_variable, expected", [(None, "1000 1000 40"), ("250", "250 250 40")])
def test_worker_timeout_from_the_environment(timeout_variable, expected):
    # As upstream: $dramatiq_worker_timeout replaces the default, and a
    # worker_timeout given to Worker wins over it.
    proc = run_worker_timeout_script(sys.executable, timeout_variable)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_worker_timeout_from_the_environment_matches_upstream():
    from redis_support import upstream_python

    python = upstream_python()
    if python is None:
        pytest.skip("upstream Dramatiq is not installed")
    for variable in (None, "250"):
        ours = run_worker_timeout_script(sys.executable, variable)
        theirs = run_worker_timeout_script(python, variable)
        assert theirs.returncode == 0, theirs.stderr
        assert ours.stdout == theirs.stdout


def test_a_non_integer_worker_timeout_variable_fails_the_import():
    # Upstream's int(os.getenv(...)) raises ValueError when dramatiq is imported.
    proc = run_worker_timeout_script(sys.executable, "soon")
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "dramatiq_worker_timeout" in proc.stderr


def test_stop_waits_for_running_message(stub_broker, make_worker):
    started = threading.Event()
    finished = []

    @dramatiq.actor
    def slow():
        started.set()
        for _ in range(10):
            time.sleep(0.02)
        finished.append(True)

    worker = make_worker(worker_threads=1)
    slow.send()
    assert started.wait(5)
    make_worker.stop(worker)
    assert finished == [True]


def test_stop_gives_up_waiting_after_its_timeout(stub_broker, make_worker):
    started, release = threading.Event(), threading.Event()
    finished = []

    @dramatiq.actor
    def stuck():
        started.set()
        release.wait(30)
        finished.append(True)

    worker = make_worker(worker_threads=1)
    stuck.send()
    assert started.wait(5)
    # stop(timeout=200) returns while the actor is still running...
    stopper = threading.Thread(target=worker.stop, kwargs={"timeout": 200})
    stopper.start()
    stopper.join(10)
    returned_while_running = not stopper.is_alive()
    release.set()
    stopper.join(10)
    assert returned_while_running
    # ...and the message still finishes and is acknowledged afterwards.
    stub_broker.join(stuck.queue_name, timeout=10000)
    assert finished == [True]


def test_stop_leaves_unfetched_messages_on_queue(stub_broker, make_worker):
    started = threading.Event()
    release = threading.Event()
    stopping = threading.Event()
    ran = []

    class StopWatch(dramatiq.Middleware):
        def before_worker_shutdown(self, broker, worker):
            stopping.set()

    stub_broker.add_middleware(StopWatch())

    @dramatiq.actor
    def slow(i):
        ran.append(i)
        started.set()
        release.wait(5)

    for i in range(10):
        slow.send(i)
    worker = make_worker(worker_threads=1)
    assert started.wait(5)
    # Stop while the first message still runs, and let it finish only once
    # the stop is under way: had it finished earlier, the worker would have
    # gone on to the next messages (they take no time).
    stopper = threading.Thread(target=make_worker.stop, args=(worker,))
    stopper.start()
    assert stopping.wait(5)
    time.sleep(0.1)
    release.set()
    stopper.join(10)

    # Messages that the worker never fetched stay on the queue.
    remaining = stub_broker.queues["default"].qsize()
    assert ran == [0]
    assert 10 - len(ran) - 2 <= remaining <= 10 - len(ran)


@pytest.mark.superset
def test_stop_requeues_prefetched_messages(stub_broker, make_worker, peek_queue):
    started = threading.Event()
    release = threading.Event()
    ran = []

    @dramatiq.actor
    def slow(i):
        ran.append(i)
        started.set()
        release.wait(5)

    messages = [slow.send(i) for i in range(10)]
    worker = make_worker(worker_threads=1)
    assert started.wait(5)
    time.sleep(0.2)
    release.set()
    make_worker.stop(worker)

    # Every message that did not run is back on the queue, exactly once.
    queued = peek_queue("default")
    queued_args = sorted(m.args[0] for m in queued)
    assert sorted(ran + queued_args) == list(range(10))
    assert {m.message_id for m in queued} <= {m.message_id for m in messages}

    # ...and a new worker processes them.
    new_worker = make_worker(worker_threads=4)
    stub_broker.join("default", timeout=10000)
    new_worker.join()
    assert sorted(ran) == list(range(10))


def test_prefetch_set_before_start_limits_what_a_consumer_holds(stub_broker):
    release = threading.Event()

    @dramatiq.actor
    def blocked():
        release.wait(60)

    worker = dramatiq.Worker(stub_broker, worker_threads=1, worker_timeout=100)
    worker.queue_prefetch = 5
    assert worker.queue_prefetch == 5
    for _ in range(10):
        blocked.send()
    queue = stub_broker.queues[blocked.queue_name]
    worker.start()
    try:
        # One running, four waiting in the worker: five taken off the queue.
        deadline = time.monotonic() + 30
        while queue.qsize() > 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.qsize() == 5
    finally:
        release.set()
        stub_broker.join(blocked.queue_name, timeout=30000)
        worker.stop()


def _wait_until(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_prefetch_set_after_start_holds_for_queues_declared_later(stub_broker):
    worker = dramatiq.Worker(stub_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        worker.queue_prefetch = 3
        (thread,) = worker.workers
        thread.pause()  # what the consumer fetches stays in the work queue
        assert thread.paused_event.wait(30)

        @dramatiq.actor(queue_name="declared_later")
        def later():
            pass

        for _ in range(8):
            later.send()
        assert _wait_until(lambda: worker.work_queue.qsize() == 3)
        assert stub_broker.queues["declared_later"].qsize() == 5
    finally:
        worker.resume()
        stub_broker.join("declared_later", timeout=30000)
        worker.stop()


def test_a_paused_worker_thread_takes_no_messages_while_the_others_do(stub_broker):
    ran_on = []

    @dramatiq.actor
    def where():
        ran_on.append(threading.get_ident())

    worker = dramatiq.Worker(stub_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        paused, working = worker.workers
        paused.pause()
        assert paused.paused_event.wait(30)
        for _ in range(20):
            where.send()
        stub_broker.join(where.queue_name, timeout=30000)
        assert set(ran_on) == {working.ident}

        paused.resume()
        working.pause()
        assert working.paused_event.wait(30)
        ran_on.clear()
        for _ in range(5):
            where.send()
        stub_broker.join(where.queue_name, timeout=30000)
        assert set(ran_on) == {paused.ident}
    finally:
        worker.resume()
        worker.stop()
