"""A drop-in replacement for JeraSoft's ``vcsapi`` client, over an embedded Tollgate engine.

Scripts written against JeraSoft's client run unchanged but for the target::

    import vcsapi
    api = vcsapi.Api("billing.db", "admin", "password", 443)
    response = api.clients.editForm({"id_clients": 8})
    print(response.code)      # True
    print(response.messages)  # []
    print(response.data)      # {'client': {'id': 8, 'name': 'Customer 01', ...}}

Behaviour kept from the vendor's client:

- ``api.<module>.<action>(params)`` calls ``<module>.<action>``; only the first positional
  argument counts and it must be a dict (none means ``{}``); the caller's dict is copied.
- The first call sends ``auth {login, password}``; once a reply carries a session id, every
  later call sends ``SID`` instead.
- A refused call returns a ``Response`` whose ``code`` is false; it does not raise. Misuse
  (params that are not a dict, an unknown method, a value with no JSON form) raises
  ``VcsApiError``; failures to reach the billing system raise ``VcsApiProtocolError``.
- ``api.file(method, params, dir, realname)`` writes a file response (``xdrs.download``) and
  returns ``{'file', 'name', 'type'}``.

The target is a local database: a path, ``":memory:"`` (a fresh in-memory database whose
administrator is the login and password given), or a ``file:`` / ``sqlite:`` URI; a
``tollgate.Engine`` is accepted too. Host names are refused with a clear error until remote
Tollgate servers arrive with the server issue.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import urllib.parse
import weakref
from collections.abc import Mapping
from typing import Any

import tollgate
from tollgate import TollgateError

__all__ = [
    "Api",
    "ApiError",
    "ApiProtocolError",
    "Response",
    "VcsApiError",
    "VcsApiProtocolError",
]

# JSON-RPC 2.0 error codes: what a Tollgate server answers for the same misuse.
_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601
# The vendor client's code for transport failures.
_TRANSPORT = 110


class VcsApiError(Exception):
    """Misuse, or an RPC fault: ``VcsApiError(code, message)`` as in the vendor's client."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class VcsApiProtocolError(VcsApiError):
    """The billing system could not be reached (transport, HTTP or response format)."""


ApiError = VcsApiError
ApiProtocolError = VcsApiProtocolError


class Response:
    """One reply: ``code``, ``messages`` and ``data`` (the envelope's ``return``), plus
    ``errors`` and ``session_id``. ``response['client']`` reads and writes ``data``."""

    def __init__(self, reply: Mapping[str, Any]) -> None:
        self.code: Any = reply.get("code")
        self.messages: list[Any] = list(reply.get("messages") or [])
        self.data: Any = reply.get("return", [])
        self.errors: list[dict[str, Any]] = list(reply.get("errors") or [])
        self.session_id: str | None = reply.get("session_id") or None

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def __delitem__(self, key: Any) -> None:
        del self.data[key]

    def __contains__(self, key: Any) -> bool:
        return key in self.data

    def __repr__(self) -> str:
        return (
            f"Response(code={self.code!r}, messages={self.messages!r}, "
            f"data={self.data!r}, errors={self.errors!r})"
        )


# --- targets -------------------------------------------------------------------------------

_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".tollgate")

# One engine per database file in this process: a second Api on the same file shares it
# (SQLite's exclusive lock lets only one engine own a file). Entries go when the last Api
# using them is gone.
_engines: weakref.WeakValueDictionary[str, tollgate.Engine] = weakref.WeakValueDictionary()
_engines_lock = threading.Lock()


def _uri_path(target: str) -> str | None:
    """The database path of a ``file:`` or ``sqlite:`` URI (``":memory:"`` for memory), or
    None when ``target`` is not such a URI."""
    lowered = target.lower()
    if lowered.startswith("sqlite:"):
        rest = target[len("sqlite:") :]
        if rest in ("", "//", "///:memory:", ":memory:"):
            return ":memory:"
        # SQLAlchemy's spelling: sqlite:///relative.db and sqlite:////absolute.db.
        if rest.startswith("///"):
            rest = rest[3:]
        elif rest.startswith("//"):
            raise VcsApiError(
                _INVALID_PARAMS,
                f"sqlite URI {target!r} names a host; use sqlite:///relative.db or "
                "sqlite:////absolute/path.db",
            )
        return urllib.parse.unquote(rest.split("?", 1)[0])
    if lowered.startswith("file:"):
        parsed = urllib.parse.urlsplit(target)
        if parsed.netloc not in ("", "localhost"):
            raise VcsApiError(_INVALID_PARAMS, f"file URI {target!r} names a remote host")
        path = urllib.parse.unquote(parsed.path)
        return ":memory:" if path == ":memory:" else path
    return None


def _is_local_path(target: str) -> bool:
    return (
        os.sep in target
        or (os.altsep is not None and os.altsep in target)
        or target.lower().endswith(_DB_SUFFIXES)
        or os.path.exists(target)
    )


def _transport_error(message: str) -> VcsApiProtocolError:
    return VcsApiProtocolError(_TRANSPORT, f"Transport: {message}")


def _open_engine(path: str) -> tollgate.Engine:
    key = os.path.realpath(path)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None and not engine.closed:
            return engine
        try:
            engine = tollgate.Engine.open(path)
        except TollgateError as e:
            raise _transport_error(f"cannot open the database {path!r}: {e.message}") from e
        _engines[key] = engine
        return engine


def _engine_for(target: Any, login: str, password: str) -> tollgate.Engine:
    if isinstance(target, tollgate.Engine):
        return target
    if isinstance(target, os.PathLike):
        return _open_engine(os.fspath(target))
    if not isinstance(target, str) or not target:
        raise VcsApiError(
            _INVALID_PARAMS,
            "target must be a database path, ':memory:', a file:/sqlite: URI or a tollgate.Engine",
        )
    path = ":memory:" if target == ":memory:" else _uri_path(target)
    if path is None and _is_local_path(target):
        path = target
    if path is None:
        raise _transport_error(
            f"{target!r} looks like a host name, and remote Tollgate servers are not "
            "supported yet: they come with the Tollgate server (JSON-RPC over HTTP) issue. "
            "Pass a local database instead: a path such as 'billing.db', ':memory:', "
            "or a 'file:' / 'sqlite:' URI."
        )
    if path == ":memory:":
        try:
            return tollgate.Engine.create(":memory:", login, password)
        except TollgateError as e:
            raise VcsApiError(e.c_code, f"cannot create an in-memory database: {e.message}") from e
    return _open_engine(path)


# --- the client ----------------------------------------------------------------------------


class _Caller:
    __slots__ = ("_api", "_method")

    def __init__(self, api: Api, method: str) -> None:
        self._api = api
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Response:
        if kwargs:
            raise VcsApiError(
                _INVALID_PARAMS,
                f"{self._method} takes its params as one dict, e.g. "
                f"api.{self._method}({{'id': 1}}); keyword arguments are not supported",
            )
        return self._api._request(self._method, args[0] if args else None)

    def __repr__(self) -> str:
        return f"<vcsapi method {self._method}>"


class _Module:
    __slots__ = ("_api", "_name")

    def __init__(self, api: Api, name: str) -> None:
        self._api = api
        self._name = name

    def __getattr__(self, action: str) -> _Caller:
        if action.startswith("_"):
            raise AttributeError(action)
        return _Caller(self._api, f"{self._name}.{action}")

    def __repr__(self) -> str:
        return f"<vcsapi module {self._name}>"


class Api:
    """``vcsapi.Api(target, login, password, port=443, verbose=0)``.

    ``target`` is a local database (see the module's doc). ``port`` is kept for
    compatibility and unused by an embedded database. ``verbose`` prints each call's method
    and outcome to stderr.
    """

    def __init__(
        self,
        target: Any,
        login: str,
        password: str,
        port: int = 443,
        verbose: int = 0,
    ) -> None:
        self.target = target
        self.login = login
        self.password = password
        self.port = port
        self.verbose = verbose
        self.session_id: str | None = None
        self._engine_ref: tollgate.Engine | None = _engine_for(target, login, password)

    @property
    def _engine(self) -> tollgate.Engine:
        if self._engine_ref is None:
            raise _transport_error("this client is closed")
        return self._engine_ref

    @property
    def engine(self) -> tollgate.Engine:
        """The embedded engine this client talks to."""
        return self._engine

    def __getattr__(self, module: str) -> _Module:
        if module.startswith("_"):
            raise AttributeError(module)
        return _Module(self, module)

    def __repr__(self) -> str:
        return f"<vcsapi.Api {self.target!r} as {self.login!r}>"

    def _params(self, method: str, params: Any) -> dict[str, Any]:
        if params is None:
            return {}
        if not isinstance(params, Mapping):
            raise VcsApiError(
                _INVALID_PARAMS,
                f"Invalid params for {method}: params must be a dict, not {type(params).__name__}",
            )
        return dict(params)

    def _say(self, text: str) -> None:
        if self.verbose:
            print(f"vcsapi: {text}", file=sys.stderr)

    def _request(self, method: str, params: Any) -> Response:
        sent = self._params(method, params)
        if self.session_id:
            sent["SID"] = self.session_id
        else:
            sent["auth"] = {"login": self.login, "password": self.password}
        try:
            reply = self._engine.call_envelope(method, sent)
        except TollgateError as e:
            if e.code == "api.malformed_request":
                raise VcsApiError(_INVALID_PARAMS, f"Invalid params for {method}: {e.message}") from e
            raise VcsApiError(e.c_code, f"{method}: {e.message}") from e
        except ValueError as e:  # the engine was closed
            raise _transport_error(str(e)) from e
        first = (reply.get("errors") or [{}])[0].get("code")
        if first == "api.unknown_method":
            raise VcsApiError(_METHOD_NOT_FOUND, f"Method not found: {method}")
        if first == "api.malformed_request":
            raise VcsApiError(_INVALID_PARAMS, reply["errors"][0].get("message", ""))
        session = reply.get("session_id")
        if session:
            self.session_id = session
        response = Response(reply)
        self._say(f"{method} -> code={response.code!r} errors={response.errors!r}")
        return response

    def file(
        self,
        method: str,
        params: Any = None,
        dir: str | os.PathLike[str] | None = None,  # noqa: A002 - the vendor's name
        realname: bool = True,
    ) -> dict[str, Any]:
        """Call a file method and write its file into ``dir`` (default: the temp directory).

        Returns ``{'file': path, 'name': suggested name or None, 'type': content type}``;
        with ``realname`` the file is renamed to the suggested name. As in the vendor's
        client, this always authenticates with login and password. A refusal removes the
        file and raises ``VcsApiError(code, '/admin/<module>/<action>: reason')``.
        """
        sent = self._params(method, params)
        sent["auth"] = {"login": self.login, "password": self.password}
        directory = os.fspath(dir) if dir is not None else tempfile.gettempdir()
        url = "/admin/" + method.replace(".", "/")
        fd, path = tempfile.mkstemp(prefix="vcsapi-", dir=directory)
        os.close(fd)
        try:
            info = self._engine.call_file(method, sent, path)
        except TollgateError as e:
            _remove(path)
            if e.code == "api.unknown_method":
                raise VcsApiError(_METHOD_NOT_FOUND, f"{url}: {e.message}") from e
            raise VcsApiError(e.c_code, f"{url}: {e.message}") from e
        except BaseException:
            _remove(path)
            raise
        name: str | None = info.name or None
        if realname and name:
            target = os.path.join(directory, os.path.basename(name))
            os.replace(path, target)
            path = target
        self._say(f"{method} -> file {path}")
        return {"file": path, "name": name, "type": info.content_type}

    def close(self) -> None:
        """Let go of the engine: the database closes once no client or caller uses it.
        Later calls raise ``VcsApiProtocolError``."""
        self._engine_ref = None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
