"""dramatiq.threading, as upstream's: raising an exception in another
thread, the platform checks, and the names middleware modules import."""

import logging
import threading

import dramatiq.middleware.threading as middleware_threading
import dramatiq.threading as dthreading


class Stop(dthreading.Interrupt):
    pass


def test_raise_thread_exception_interrupts_a_running_thread():
    started, caught = threading.Event(), []

    def spin():
        started.set()
        try:
            while True:
                pass
        except Stop as e:
            caught.append(e)

    thread = threading.Thread(target=spin)
    thread.start()
    assert started.wait(10)
    dthreading.raise_thread_exception(thread.ident, Stop)
    thread.join(10)
    assert not thread.is_alive()
    assert len(caught) == 1 and isinstance(caught[0], Stop)


def test_an_unknown_thread_is_logged_not_raised(caplog):
    with caplog.at_level(logging.CRITICAL):
        dthreading.raise_thread_exception(2**40 + 12345, Stop)
    assert "Failed to set exception (Stop) in thread" in caplog.text


def test_platform_facts_and_shared_names():
    assert dthreading.current_platform == "CPython"
    assert "CPython" in dthreading.supported_platforms
    assert dthreading.is_gevent_active() is False
    for name in dthreading.__all__:
        assert getattr(middleware_threading, name) is getattr(dthreading, name)
    assert not issubclass(dthreading.Interrupt, Exception)
    from dramatiq.middleware import TimeLimitExceeded, Shutdown

    assert issubclass(TimeLimitExceeded, dthreading.Interrupt) and issubclass(Shutdown, dthreading.Interrupt)
