"""The example actors of examples/cpp (tasks.hpp) written in Python: the
same names, queue and options, so the C++ producer's messages run on a
Python worker and a Python producer can send to the C++ worker."""

import dramatiq

QUEUE = "examples"


def declare(broker):
    """Declare the three actors on ``broker``; returns them by name.

    Parameters:
      broker: the broker the actors send with and run on."""

    def add(a, b):
        return a + b

    def word_count(text):
        counts = {}
        for word in text.split():
            counts[word] = counts.get(word, 0) + 1
        return counts

    def scale(values, factor=None):
        return [v * (2.0 if factor is None else factor) for v in values]

    return {
        fn.__name__: dramatiq.actor(fn, broker=broker, queue_name=QUEUE, store_results=True)
        for fn in (add, word_count, scale)
    }
