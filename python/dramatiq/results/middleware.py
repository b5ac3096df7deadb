"""Results: the middleware that stores actor results (runs in the engine)."""

from __future__ import annotations

from .. import _engine
from ..middleware import Middleware

#: How long (ms) results are kept unless told otherwise.
DEFAULT_RESULT_TTL = _engine.Results.DEFAULT_RESULT_TTL


class Results(Middleware):
    """Stores what actors return in ``backend`` so ``message.get_result()``
    can fetch it; a message that fails for good stores its failure, which
    ``get_result`` raises as ``ResultFailure``.

    Parameters:
      backend: the ``ResultBackend`` to store results in.
      store_results: whether actors store results by default (actors and
        messages may set the ``store_results`` option).
      result_ttl: how long (ms) results are kept (default 10 minutes;
        also an actor and message option).
    """

    def __init__(self, *, backend, store_results=False, result_ttl=None):
        self.backend = backend
        self._native = _engine.Results(backend._native, store_results, result_ttl or DEFAULT_RESULT_TTL)

    store_results = property(lambda self: self._native.store_results)
    result_ttl = property(lambda self: self._native.result_ttl)
