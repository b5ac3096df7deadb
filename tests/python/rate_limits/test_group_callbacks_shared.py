"""GroupCallbacks with barriers in Redis and memcached, driven by a
RedisBroker worker."""

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import GroupCallbacks
from dramatiq.rate_limits.backends import MemcachedBackend, RedisBackend


@pytest.fixture(params=["redis", "memcached"])
def barrier_backend(request, redis_server):
    if request.param == "redis":
        return RedisBackend(url=redis_server.url)
    return MemcachedBackend(servers=[request.getfixturevalue("memcached_server").address])


def test_group_callbacks_on_a_redis_broker(redis_server, barrier_backend):
    broker = RedisBroker(url=redis_server.url, namespace="gc-%d" % id(barrier_backend))
    broker.add_middleware(GroupCallbacks(barrier_backend))
    dramatiq.set_broker(broker)
    finished = []
    done = []

    @dramatiq.actor(queue_name="group-members")
    def work(i):
        done.append(i)

    @dramatiq.actor(queue_name="group-members")
    def all_done(tag):
        finished.append((tag, sorted(done)))

    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        g = dramatiq.group(work.message(i) for i in range(6))
        g.add_completion_callback(all_done.message("done"))
        g.run()
        broker.join("group-members", timeout=60000)
        worker.join()
    finally:
        worker.stop()
        broker.flush_all()
        broker.close()
    assert finished == [("done", [0, 1, 2, 3, 4, 5])]
