"""Nothing is unpickled unless the user chose PickleEncoder: a pickled
message arriving at a worker that uses the (default) JSON encoder is
dead-lettered as undecodable, and the object in it is never built."""

import logging
import os
import pickle

import dramatiq
from dramatiq import PickleEncoder


class Payload:
    """Unpickling this creates the file named in it: the sign that a
    pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickled_message(path):
    message = dramatiq.Message(queue_name="default", actor_name="run", args=(Payload(path),), kwargs={}, options={})
    return PickleEncoder().encode(message.asdict())


def test_a_pickled_message_is_dead_lettered_by_a_json_worker(stub_broker, stub_worker, tmp_path, caplog):
    ran = []

    @dramatiq.actor
    def run(*args):
        ran.append(args)

    marker = str(tmp_path / "unpickled")
    caplog.set_level(logging.ERROR)
    stub_broker.queues["default"].put(pickled_message(marker))
    run.send("json")
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()

    assert not os.path.exists(marker), "the pickle was loaded"
    assert ran == [("json",)]
    assert len(stub_broker.dead_letters) == 1
    assert any("undecodable" in r.getMessage() for r in caplog.records)


def test_the_same_message_is_unpickled_when_pickle_was_chosen(stub_broker, tmp_path):
    # The payload above is a real pickle: with PickleEncoder chosen it loads
    # (so the test above shows the JSON worker refusing it, not a bad pickle).
    marker = str(tmp_path / "unpickled")
    decoded = PickleEncoder().decode(pickled_message(marker))
    decoded["args"][0].close()
    assert os.path.exists(marker)
