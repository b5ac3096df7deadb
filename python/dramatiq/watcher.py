"""Restarting on source changes (the worker command's ``--watch``): a
watchdog observer that sends this process SIGHUP when a watched file
changes, which makes the worker command restart its workers."""

from __future__ import annotations

import fnmatch
import os
import signal

from .logging import get_logger

__all__ = ["setup_file_watcher", "watched_change"]


def watched_change(paths, include_patterns, exclude_patterns) -> bool:
    """True when one of ``paths`` matches an include pattern and none of
    them an exclude pattern.  fnmatch on the whole path and on the file
    name: "*.py", "**.py" and "src/*.py" all mean what they say, whatever
    watchdog version is installed (its own matching changed over time).

    Parameters:
      paths(list[str]): the paths an event names (empty ones are ignored).
      include_patterns(list[str]): patterns that make a change count.
      exclude_patterns(list[str] or None): patterns that make it not count.
    """

    def matches(path, patterns):
        name = os.path.basename(path)
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in patterns or ())

    paths = [p for p in paths if p]
    if any(matches(p, exclude_patterns) for p in paths):
        return False
    return any(matches(p, include_patterns) for p in paths)


def setup_file_watcher(path, use_polling=False, include_patterns=None, exclude_patterns=None):
    """Start (and return) a watchdog observer of the tree under ``path``
    that sends SIGHUP to this process when a file there changes.

    Parameters:
      path(str): the directory to watch, recursively.
      use_polling(bool): poll the file system instead of using the
        platform's change notifications.
      include_patterns(list[str]): file patterns that count (default
        ``["*.py"]``).
      exclude_patterns(list[str]): file patterns that do not.
    """
    import watchdog.events
    import watchdog.observers
    import watchdog.observers.polling

    include_patterns = ["*.py"] if include_patterns is None else include_patterns

    class RestartOnChange(watchdog.events.FileSystemEventHandler):
        def on_any_event(self, event):
            # Opening or reading a file is not a change.
            if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                return
            paths = [os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")]
            if watched_change(paths, include_patterns, exclude_patterns):
                get_logger("dramatiq", "MainProcess").info("Detected changes to %r.", paths[0])
                os.kill(os.getpid(), signal.SIGHUP)

    observer_class = watchdog.observers.polling.PollingObserver if use_polling else watchdog.observers.Observer
    observer = observer_class()
    observer.schedule(RestartOnChange(), path, recursive=True)
    observer.start()
    return observer
