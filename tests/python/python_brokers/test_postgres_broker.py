"""dramatiq-postgres (PyPI), a third-party broker written in Python against
upstream's Broker API, run unchanged by our Worker against a real
PostgreSQL (postgres_support.py): messages, its own results backend (the
engine's Results middleware storing through it), retries through its
delay queue, and dead letters."""

import time

import psycopg
import pytest
from dramatiq_postgres import PostgresBroker, init

import dramatiq
from dramatiq import Worker
from dramatiq.results import ResultFailure
from postgres_support import PostgresServer

WAIT_MS = 30000


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    server.start()
    yield server
    server.close()


def query(postgres, sql, *params):
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(predicate, what):
    deadline = time.monotonic() + WAIT_MS / 1000
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


@pytest.fixture
def pg_broker(postgres):
    with psycopg.connect(postgres.url) as conn:
        with conn.transaction(), conn.cursor() as curs:
            init(curs)
        conn.execute('TRUNCATE dramatiq."queue", dramatiq."result"')
        conn.commit()
    broker = PostgresBroker(url=postgres.url, poll_interval=0.1)
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


@pytest.fixture
def pg_worker(pg_broker):
    worker = Worker(pg_broker, worker_timeout=100, worker_threads=4)
    worker.start()
    yield worker
    worker.stop()


def test_messages_and_results_of_dramatiq_postgres_run_through_our_worker(postgres, pg_broker, pg_worker):
    @dramatiq.actor(store_results=True)
    def double(x):
        return x * 2

    messages = [double.send(i) for i in range(10)]
    assert [m.get_result(block=True, timeout=WAIT_MS) for m in messages] == [i * 2 for i in range(10)]
    # Acked through the broker's consumer: it deletes what it acks.
    wait_for(lambda: query(postgres, 'SELECT count(*) FROM dramatiq."queue"') == [(0,)], "the acks")


def test_retries_and_dead_letters_of_dramatiq_postgres(postgres, pg_broker, pg_worker):
    attempts = []

    @dramatiq.actor(store_results=True, max_retries=2, min_backoff=10, max_backoff=20)
    def always_fails():
        attempts.append(1)
        raise ValueError("nope")

    message = always_fails.send()
    with pytest.raises(ResultFailure) as failure:
        message.get_result(block=True, timeout=WAIT_MS)
    assert "nope" in str(failure.value)
    assert len(attempts) == 3  # the first attempt and two retries, each through its delay queue

    # The last attempt was nacked through the consumer: the broker keeps it as rejected.
    wait_for(lambda: query(postgres, 'SELECT "state" FROM dramatiq."queue" WHERE "state" = %s', "rejected"),
             "the nack")
    [(retries,)] = query(postgres, "SELECT message->'options'->>'retries' FROM dramatiq.\"queue\" "
                                   "WHERE \"state\" = 'rejected'")
    assert retries == "3"  # as upstream counts: the attempt that exceeded max_retries is the third retry
