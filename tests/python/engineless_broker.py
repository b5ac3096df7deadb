"""A broker written in Python with nothing the engine could keep its own
records in (ticks, cancellations): what such brokers are refused."""

from dramatiq.broker import Broker


class EnginelessBroker(Broker):
    def consume(self, queue_name, prefetch=1, timeout=100):
        raise NotImplementedError

    def declare_queue(self, queue_name):
        self.queues[queue_name] = []

    def enqueue(self, message, *, delay=None):
        self.queues[message.queue_name].append(message)
        return message
