"""Tollgate: an embedded telecom billing engine.

``Engine`` holds one billing database. Management API methods go through ``Engine.call``
(credentials in the params, as JeraSoft's API does) or ``Engine.call_as_system`` (the
embedding process itself); the softswitch calls are typed: ``authorize``, ``update``,
``settle`` and ``release``. Money is ``decimal.Decimal`` both ways. Refused calls raise the
``TollgateError`` subclass named after their error code (see ``tollgate.errors``).

For scripts written against JeraSoft's client, ``import vcsapi`` instead.
"""

from tollgate import errors
from tollgate._native import Authorization, Engine, FileInfo, Settlement, __version__
from tollgate.errors import *  # noqa: F403 - the exception tree, generated from core's table
from tollgate.errors import TollgateError, error_class  # noqa: F401 - named for readers

__all__ = ["Authorization", "Engine", "FileInfo", "Settlement", "__version__", "errors"]
__all__ += errors.__all__
