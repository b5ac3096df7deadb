"""RabbitmqBroker against a real rabbitmq-server: construction as
upstream's (URLs, fail-over, pika parameters), queues, delivery through a
worker, retries, delays, priorities, dead letters, confirms, joining."""

import logging
import threading

import pytest

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker, URLParameters
from dramatiq.errors import ConnectionClosed, QueueJoinTimeout


def test_url_parameters_is_importable_from_the_module():
    assert URLParameters("amqp://127.0.0.1:5672").url == "amqp://127.0.0.1:5672"
    with pytest.raises(ValueError):
        URLParameters("redis://127.0.0.1")


def test_max_priority_must_be_in_amqps_range():
    for bad in (0, 256):
        with pytest.raises(ValueError):
            RabbitmqBroker(max_priority=bad)


def test_url_cannot_be_combined_with_parameters():
    with pytest.raises(RuntimeError):
        RabbitmqBroker(url="amqp://127.0.0.1:5672", host="127.0.0.1")
    with pytest.raises(RuntimeError):
        RabbitmqBroker(parameters=[{"host": "127.0.0.1"}], port=5672)


def test_unknown_connection_parameter_is_refused():
    with pytest.raises(TypeError):
        RabbitmqBroker(no_such_parameter=1)


def test_connections_are_lazy():
    # Nothing listens on port 1: constructing and declaring must not connect.
    broker = RabbitmqBroker(host="127.0.0.1", port=1)
    broker.declare_queue("lazy")
    assert "lazy" in broker.get_declared_queues()
    with pytest.raises(ConnectionClosed):
        broker.declare_queue("lazy", ensure=True)


def test_semicolon_separated_urls_fail_over(rabbitmq_server):
    broker = RabbitmqBroker(url="amqp://127.0.0.1:1;" + rabbitmq_server.url, confirm_delivery=True)
    try:
        broker.declare_queue("failover-a", ensure=True)
        assert broker.get_queue_message_counts("failover-a") == (0, 0, 0)
    finally:
        from rabbitmq_support import close_broker

        close_broker(broker, rabbitmq_server)


def test_list_of_parameters_fail_over(rabbitmq_server):
    import pika

    broker = RabbitmqBroker(
        parameters=[
            {"host": "127.0.0.1", "port": 1},
            {"host": "127.0.0.1", "port": rabbitmq_server.port, "credentials": pika.PlainCredentials("guest", "guest")},
        ],
        confirm_delivery=True,
    )
    try:
        broker.declare_queue("failover-b", ensure=True)
        assert broker.get_queue_message_counts("failover-b") == (0, 0, 0)
    finally:
        from rabbitmq_support import close_broker

        close_broker(broker, rabbitmq_server)


def test_wrong_credentials_fail_to_connect(rabbitmq_server):
    broker = RabbitmqBroker(host="127.0.0.1", port=rabbitmq_server.port, username="guest", password="wrong")
    with pytest.raises(ConnectionClosed):
        broker.declare_queue("auth", ensure=True)


def test_actors_can_be_sent_messages(rabbitmq_broker, rabbitmq_worker):
    database = {}

    @dramatiq.actor
    def put(key, value):
        database[key] = value

    for i in range(100):
        assert put.send("key-%s" % i, i)
    rabbitmq_broker.join(put.queue_name, min_successes=2, idle_time=20)
    rabbitmq_worker.join()
    assert len(database) == 100


def test_queues_are_declared_durable_with_upstreams_arguments(rabbitmq_server, rabbitmq_broker):
    rabbitmq_broker.declare_queue("declared", ensure=True)
    queues = rabbitmq_server.list_queues()
    assert queues["declared"] == (True, {"x-dead-letter-exchange": ("longstr", ""),
                                         "x-dead-letter-routing-key": ("longstr", "declared.XQ"),
                                         "x-max-priority": ("signedint", 10)})
    assert queues["declared.DQ"] == queues["declared"]
    assert queues["declared.XQ"] == (True, {"x-message-ttl": ("signedint", 86400000 * 7)})


def test_retries_with_backoff(rabbitmq_broker, rabbitmq_worker):
    attempts = []

    @dramatiq.actor(min_backoff=10, max_backoff=50)
    def fail_twice():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("fails twice (expected by the test)")

    fail_twice.send()
    rabbitmq_broker.join(fail_twice.queue_name, min_successes=5, idle_time=50)
    rabbitmq_worker.join()
    assert len(attempts) == 3


def test_delayed_messages_wait_for_their_eta(rabbitmq_broker, rabbitmq_worker):
    ran_at = []

    @dramatiq.actor
    def record():
        import time

        ran_at.append(int(time.time() * 1000))

    message = record.send_with_options(delay=300)
    assert message.queue_name == "default.DQ"
    rabbitmq_broker.join(record.queue_name, min_successes=3, idle_time=20)
    rabbitmq_worker.join()
    assert len(ran_at) == 1 and ran_at[0] >= message.options["eta"]


def test_messages_out_of_retries_are_dead_lettered(rabbitmq_broker, rabbitmq_worker):
    @dramatiq.actor(max_retries=0)
    def fail():
        raise RuntimeError("always fails (expected by the test)")

    fail.send()
    rabbitmq_broker.join(fail.queue_name, min_successes=2, idle_time=20)
    rabbitmq_worker.join()
    assert rabbitmq_broker.get_queue_message_counts(fail.queue_name) == (0, 0, 1)


def test_broker_priority_orders_waiting_messages(rabbitmq_broker):
    order = []

    @dramatiq.actor
    def record(i):
        order.append(i)

    rabbitmq_broker.confirm_delivery = True
    for i in range(5):
        record.send_with_options(args=(i,), broker_priority=i * 2)
    worker = Worker(rabbitmq_broker, worker_threads=1)
    worker.queue_prefetch = 1
    worker.start()
    try:
        rabbitmq_broker.join(record.queue_name, min_successes=2, idle_time=20)
        worker.join()
    finally:
        worker.stop()
    assert order == [4, 3, 2, 1, 0]


def test_enqueue_with_confirms_redeclares_a_deleted_queue(rabbitmq_broker):
    @dramatiq.actor
    def noop():
        pass

    rabbitmq_broker.confirm_delivery = True
    noop.send()
    rabbitmq_broker.channel.queue_delete(noop.queue_name)
    noop.send()
    assert rabbitmq_broker.channel.queue_declare(noop.queue_name, passive=True).method.message_count == 1


def test_consumer_redeclares_a_queue_deleted_while_consuming(rabbitmq_broker):
    done = threading.Event()

    @dramatiq.actor
    def mark():
        done.set()

    rabbitmq_broker.confirm_delivery = True
    worker = Worker(rabbitmq_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        rabbitmq_broker.declare_queue(mark.queue_name, ensure=True)
        rabbitmq_broker.channel.queue_delete(mark.queue_name)
        # The server cancels the consumer; its replacement declares the queue again.
        mark.send()
        assert done.wait(30)
    finally:
        worker.stop()


def test_join_times_out(rabbitmq_broker):
    @dramatiq.actor
    def noop():
        pass

    rabbitmq_broker.confirm_delivery = True
    noop.send()
    with pytest.raises(QueueJoinTimeout):
        rabbitmq_broker.join(noop.queue_name, timeout=200)


def test_flush_all_drops_waiting_and_delayed_messages(rabbitmq_broker):
    @dramatiq.actor
    def noop():
        pass

    rabbitmq_broker.confirm_delivery = True
    for _ in range(3):
        noop.send()
        noop.send_with_options(delay=60000)
    assert rabbitmq_broker.get_queue_message_counts(noop.queue_name) == (3, 3, 0)
    rabbitmq_broker.flush_all()
    assert rabbitmq_broker.get_queue_message_counts(noop.queue_name) == (0, 0, 0)
    assert rabbitmq_broker.join(noop.queue_name, min_successes=1, timeout=200) is None


def test_connection_and_channel_are_pika_objects_to_the_same_server(rabbitmq_broker):
    rabbitmq_broker.declare_queue("introspected", ensure=True)
    assert rabbitmq_broker.connection.is_open
    result = rabbitmq_broker.channel.queue_declare("introspected", passive=True)
    assert result.method.message_count == 0
    del rabbitmq_broker.channel
    del rabbitmq_broker.channel
    del rabbitmq_broker.connection
    del rabbitmq_broker.connection


def test_group_is_published_and_confirmed_whole(rabbitmq_broker):
    @dramatiq.actor
    def noop(i):
        pass

    rabbitmq_broker.confirm_delivery = True
    dramatiq.group(noop.message(i) for i in range(1000)).run()
    assert rabbitmq_broker.get_queue_message_counts(noop.queue_name) == (1000, 0, 0)


def test_unknown_actor_and_bad_bodies_are_dead_lettered_with_a_reason(rabbitmq_broker, rabbitmq_worker, caplog):
    import pika

    @dramatiq.actor
    def known():
        pass

    rabbitmq_broker.declare_queue(known.queue_name, ensure=True)
    channel = rabbitmq_broker.channel
    for body in (b"\xff garbage", b"[1, 2, 3]",
                 b'{"queue_name":"default","actor_name":"nobody","args":[],"kwargs":{},"options":{},'
                 b'"message_id":"x","message_timestamp":0}'):
        channel.basic_publish("", known.queue_name, body, pika.BasicProperties(delivery_mode=2))
    with caplog.at_level(logging.WARNING):
        known.send()
        rabbitmq_broker.join(known.queue_name, min_successes=3, idle_time=50)
        rabbitmq_worker.join()
    assert rabbitmq_broker.get_queue_message_counts(known.queue_name) == (0, 0, 3)
    reasons = [r.getMessage() for r in caplog.records]
    assert sum("undecodable message" in m and "Reason:" in m for m in reasons) == 2, reasons
    assert sum("undefined actor 'nobody'" in m for m in reasons) == 1, reasons


def test_blocked_connection_makes_producers_raise_after_the_timeout(rabbitmq_server):
    from rabbitmq_support import close_broker

    broker = RabbitmqBroker(host="127.0.0.1", port=rabbitmq_server.port, confirm_delivery=True,
                            blocked_connection_timeout=1)

    @dramatiq.actor(broker=broker, queue_name="blocked")
    def noop():
        pass

    try:
        noop.send()
        # A memory alarm: the server blocks every publishing connection.
        rabbitmq_server.ctl("set_vm_memory_high_watermark", "0.0000001")
        try:
            with pytest.raises(ConnectionClosed):
                noop.send()
            # The block is known now: a send waits blocked_connection_timeout
            # without writing, then says why (not a confirm that never came).
            with pytest.raises(ConnectionClosed, match="blocked"):
                noop.send()
        finally:
            rabbitmq_server.ctl("set_vm_memory_high_watermark", "0.4")
        noop.send()
        # A send that raised may have been written before the block was
        # noticed: the server may still store it once unblocked (the producer
        # was told it is unconfirmed, not that it is lost).
        assert broker.get_queue_message_counts("blocked")[0] in (2, 3, 4)
    finally:
        close_broker(broker, rabbitmq_server)


def test_tls_connections_verify_the_server(rabbitmq_server):
    import ssl

    import pika
    from rabbitmq_support import close_broker

    ca = rabbitmq_server.tls_files["ca.crt"]
    context = ssl.create_default_context(cafile=ca)
    brokers = [
        # pika's own way: an SSLContext that trusts the test's CA.
        RabbitmqBroker(host="localhost", port=rabbitmq_server.tls_port, ssl_options=pika.SSLOptions(context),
                       confirm_delivery=True),
        RabbitmqBroker(host="localhost", port=rabbitmq_server.tls_port, ssl_options={"ca_certs": ca},
                       confirm_delivery=True),
        RabbitmqBroker(url="amqps://guest:guest@localhost:%d/?ssl_ca_certs=%s" % (rabbitmq_server.tls_port, ca),
                       confirm_delivery=True),
    ]
    try:
        for index, broker in enumerate(brokers):
            @dramatiq.actor(broker=broker, queue_name="tls-%d" % index)
            def noop():
                pass

            noop.send()
            assert broker.get_queue_message_counts("tls-%d" % index)[0] == 1
    finally:
        for broker in brokers:
            close_broker(broker, rabbitmq_server)
    # A server whose certificate the given CA did not sign is refused.
    untrusted = RabbitmqBroker(host="localhost", port=rabbitmq_server.tls_port,
                               ssl_options={"ca_certs": rabbitmq_server.tls_files["other-ca.crt"]})
    with pytest.raises(ConnectionClosed):
        untrusted.declare_queue("tls-refused", ensure=True)
    other = ssl.create_default_context(cafile=rabbitmq_server.tls_files["other-ca.crt"])
    untrusted = RabbitmqBroker(host="localhost", port=rabbitmq_server.tls_port, ssl_options=pika.SSLOptions(other))
    with pytest.raises(ConnectionClosed):
        untrusted.declare_queue("tls-refused", ensure=True)
    # Verification is on by default: with no CA given, the system's store
    # does not know the test's CA, and the server is refused too.
    for default in (RabbitmqBroker(url="amqps://guest:guest@localhost:%d/" % rabbitmq_server.tls_port),
                    RabbitmqBroker(host="localhost", port=rabbitmq_server.tls_port, ssl_options={})):
        with pytest.raises(ConnectionClosed):
            default.declare_queue("tls-refused", ensure=True)


def test_ctrl_c_interrupts_a_join(rabbitmq_server, tmp_path):
    import signal
    import subprocess
    import sys

    script = (
        "import sys, dramatiq\n"
        "from dramatiq.brokers.rabbitmq import RabbitmqBroker\n"
        "broker = RabbitmqBroker(url=sys.argv[1], confirm_delivery=True)\n"
        "noop = dramatiq.actor(lambda: None, broker=broker, actor_name='noop', queue_name='interrupted')\n"
        "noop.send()\n"
        "try:\n"
        "    print('joining', flush=True)\n"
        "    broker.join('interrupted')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, rabbitmq_server.url], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    try:
        assert child.stdout.readline().strip() == "joining", child.stderr.read()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        from rabbitmq_support import delete_queues

        delete_queues(rabbitmq_server, ["interrupted"])
    assert out.strip() == "interrupted", err


def test_periodic_ticks_are_recorded_on_the_server(rabbitmq_broker, rabbitmq_server):
    # Each schedule's last tick lives in a queue of its own on the server
    # (src/rabbitmq/tick_records.hpp): a second broker object, as another
    # process would have, sees the tick taken.
    import calendar
    import datetime

    from dramatiq.schedules import Scheduler

    @dramatiq.actor(queue_name="rmq-periodic", periodic="0 * * * *")
    def hourly():
        pass

    tick = calendar.timegm(datetime.datetime(2026, 12, 3, 16, 0).timetuple())
    racing = Scheduler(rabbitmq_broker)
    assert racing.run_due(tick - 1) == []
    [outcome] = Scheduler(rabbitmq_broker).run_due(tick)
    assert outcome["enqueued"] is True and outcome["tick_ms"] == tick * 1000
    assert racing.run_due(tick)[0]["enqueued"] is False

    other = RabbitmqBroker(url=rabbitmq_server.url, max_priority=10)
    try:
        @dramatiq.actor(broker=other, queue_name="rmq-periodic", periodic="0 * * * *")
        def hourly():  # noqa: F811 (the same actor, in another process)
            pass

        [state] = Scheduler(other).schedules(now=tick)
        assert state.last_run == datetime.datetime(2026, 12, 3, 16, 0, tzinfo=datetime.timezone.utc)
        assert Scheduler(other).run_due(tick) == []
    finally:
        other.close()
    assert rabbitmq_broker.get_queue_message_counts("rmq-periodic")[0] == 1


def test_a_cancellation_from_another_process_reaches_the_worker(rabbitmq_broker, another_rabbitmq_broker):
    # The canceller is another broker object on the same server, as
    # another process's would be (tests/python/cancellation_scenarios.py).
    from cancellation_scenarios import running_and_pending_are_cancelled

    running_and_pending_are_cancelled(rabbitmq_broker, another_rabbitmq_broker)


def test_queue_counts_by_state_seen_from_another_process(rabbitmq_broker, another_rabbitmq_broker):
    from queue_counts_scenarios import counts_by_state

    counts_by_state(rabbitmq_broker, another_rabbitmq_broker, sees_in_flight=False)


def test_worker_records_seen_from_another_process(rabbitmq_broker, another_rabbitmq_broker):
    from worker_record_scenarios import records_follow_the_worker

    records_follow_the_worker(rabbitmq_broker, another_rabbitmq_broker)


def test_dead_letters_listed_requeued_and_deleted_from_another_process(rabbitmq_broker, another_rabbitmq_broker):
    from dead_letter_scenarios import dead_letters_listed_requeued_and_deleted

    dead_letters_listed_requeued_and_deleted(rabbitmq_broker, another_rabbitmq_broker)
