"""A minimal broker written in Python, as third-party brokers are written
against upstream's ``dramatiq.Broker``: its queues are lists in memory, its
consumer an upstream-shaped ``Consumer`` of ``MessageProxy`` objects. It
records what the worker asked of it (consumers opened, acks, nacks,
requeues) for the tests to check."""

import threading
import time

from dramatiq.broker import Broker, Consumer, MessageProxy
from dramatiq.common import current_millis, dq_name, q_name
from dramatiq.errors import QueueJoinTimeout
from dramatiq.message import Message


class ListMessageProxy(MessageProxy):
    """The broker's own proxy class (the worker must hand it back)."""


class ListBroker(Broker):
    def __init__(self, middleware=None):
        self.lock = threading.Condition()
        self.messages = {}  # queue name -> [encoded message]
        self.unacked = {}  # queue name -> delivered, not yet settled
        self.acked = []  # message ids
        self.dead_letters = []  # messages
        self.requeued = []  # message ids
        self.consumers_opened = []  # (queue name, prefetch, timeout)
        super().__init__(middleware=middleware)

    def declare_queue(self, queue_name):
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues[queue_name] = True
            with self.lock:
                for name in (queue_name, dq_name(queue_name)):
                    self.messages.setdefault(name, [])
                    self.unacked.setdefault(name, 0)
            self.emit_after("declare_queue", queue_name)
            delayed_name = dq_name(queue_name)
            self.delay_queues.add(delayed_name)
            self.emit_after("declare_delay_queue", delayed_name)

    def enqueue(self, message, *, delay=None):
        self.declare_queue(q_name(message.queue_name))
        if delay is not None:
            message = message.copy(queue_name=dq_name(message.queue_name), options={"eta": current_millis() + delay})
        self.emit_before("enqueue", message, delay)
        with self.lock:
            self.messages[message.queue_name].append(message.encode())
            self.lock.notify_all()
        self.emit_after("enqueue", message, delay)
        return message

    def consume(self, queue_name, prefetch=1, timeout=30000):
        self.consumers_opened.append((queue_name, prefetch, timeout))
        return ListConsumer(self, queue_name, prefetch, timeout)

    def flush(self, queue_name):
        with self.lock:
            for name in (queue_name, dq_name(queue_name)):
                self.messages[name] = []

    def flush_all(self):
        for queue_name in self.get_declared_queues():
            self.flush(queue_name)

    def join(self, queue_name, *, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        names = (queue_name, dq_name(queue_name))
        with self.lock:
            while any(self.messages[n] or self.unacked[n] for n in names):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueJoinTimeout(queue_name)
                self.lock.wait(remaining)


class ListConsumer(Consumer):
    def __init__(self, broker, queue_name, prefetch, timeout):
        self.broker = broker
        self.queue_name = queue_name
        self.prefetch = prefetch
        self.timeout = timeout
        self.in_flight = 0

    def __next__(self):
        broker = self.broker
        deadline = time.monotonic() + self.timeout / 1000
        with broker.lock:
            while not (broker.messages[self.queue_name] and self.in_flight < self.prefetch):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                broker.lock.wait(remaining)
            data = broker.messages[self.queue_name].pop(0)
            broker.unacked[self.queue_name] += 1
            self.in_flight += 1
        return ListMessageProxy(Message.decode(data))

    def _settled(self, message):
        self.broker.unacked[self.queue_name] -= 1
        self.in_flight -= 1
        self.broker.lock.notify_all()

    def ack(self, message):
        assert isinstance(message, ListMessageProxy), message
        with self.broker.lock:
            self.broker.acked.append(message.message_id)
            self._settled(message)

    def nack(self, message):
        assert isinstance(message, ListMessageProxy), message
        with self.broker.lock:
            self.broker.dead_letters.append(message)
            self._settled(message)

    def requeue(self, messages):
        with self.broker.lock:
            for message in messages:
                self.broker.requeued.append(message.message_id)
                self.broker.messages[self.queue_name].insert(0, message._message.encode())
                self._settled(message)
