"""Logger lookup with upstream's naming scheme (``module.ClassName``)."""

from __future__ import annotations

import inspect
import logging


def get_logger(module, name=None):
    """Get the logger named ``module`` or ``module.name`` (``name`` may be a class).

    Parameters:
      module: the module's name (``__name__``).
      name: a class or a name to append, if any.
    """
    logger_fqn = module
    if name is not None:
        if inspect.isclass(name):
            name = name.__name__
        logger_fqn += "." + name
    return logging.getLogger(logger_fqn)
