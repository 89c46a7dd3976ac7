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
``tollgate.Engine`` is accepted too. Anything else is a host name: a Tollgate server
(``tollgate serve``) reached as the vendor's client reaches JeraSoft, JSON-RPC at
``https://host:port/jsonrpc/`` (plain ``http://`` when the port is 80) and files at
``/admin/``. A ``http://`` or ``https://`` URL is accepted as well (its own scheme and port).
Unlike the vendor's client, TLS certificates are verified: ``verify=False`` turns that off,
``verify="ca.pem"`` trusts a private CA or a self-signed certificate. Transport failures raise
``VcsApiProtocolError`` with the vendor's codes: 110 transport, the HTTP status, 121 format.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping
from typing import Any

import tollgate
from tollgate import TollgateError, _native

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
# The vendor client's codes for transport failures and undecodable replies.
_TRANSPORT = 110
_FORMAT = 121
# The vendor client's HTTP timeout, in seconds.
_HTTP_TIMEOUT_S = 60


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


def _is_server_url(target: str) -> bool:
    """A PostgreSQL database (``postgres://`` or ``postgresql://``), opened like a file."""
    return re.match(r"^postgres(ql)?://", target, re.IGNORECASE) is not None


def _open_engine(path: str) -> tollgate.Engine:
    key = path if _is_server_url(path) else os.path.realpath(path)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None and not engine.closed:
            return engine
        try:
            engine = tollgate.Engine.open(path)
        except TollgateError as e:
            # A server URL may carry a password: the engine's message names the server
            # without it.
            shown = "" if _is_server_url(path) else f" {path!r}"
            raise _transport_error(f"cannot open the database{shown}: {e.message}") from e
        _engines[key] = engine
        return engine


def _remote_base(target: str, port: int) -> str | None:
    """The base URL of a remote server, or None when ``target`` is not a host or URL."""
    if re.match(r"^https?://", target, re.IGNORECASE):
        parts = urllib.parse.urlsplit(target)
        if not parts.hostname:
            raise VcsApiError(_INVALID_PARAMS, f"URL {target!r} names no host")
        return f"{parts.scheme.lower()}://{parts.netloc}"
    if re.match(r"^[A-Za-z0-9.-]+$", target) or re.match(r"^\[[0-9A-Fa-f:.]+\]$", target):
        if not isinstance(port, int) or not 0 < port < 65536:
            raise VcsApiError(_INVALID_PARAMS, f"port must be 1 to 65535, not {port!r}")
        scheme = "http" if port == 80 else "https"
        return f"{scheme}://{target}:{port}"
    return None


def _resolve_target(target: Any, login: str, password: str, port: int = 443) -> tollgate.Engine | str:
    """The embedded engine of a local target, or the base URL of a remote one."""
    if isinstance(target, tollgate.Engine):
        return target
    if isinstance(target, os.PathLike):
        return _open_engine(os.fspath(target))
    if not isinstance(target, str) or not target:
        raise VcsApiError(
            _INVALID_PARAMS,
            "target must be a database path, ':memory:', a file:/sqlite: URI, a postgres:// "
            "URL, a host name or a tollgate.Engine",
        )
    if re.match(r"^https?://", target, re.IGNORECASE):
        return _remote_base(target, port) or target
    if _is_server_url(target):
        return _open_engine(target)
    path = ":memory:" if target == ":memory:" else _uri_path(target)
    if path is None and _is_local_path(target):
        path = target
    if path is None:
        base = _remote_base(target, port)
        if base is None:
            raise VcsApiError(
                _INVALID_PARAMS,
                f"{target!r} is neither a database (a path, ':memory:', a file:/sqlite: URI) "
                "nor a host name",
            )
        return base
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

    ``target`` is a local database or a Tollgate server's host name (see the module's doc).
    ``port`` picks the server's port (80 means plain HTTP) and is unused by an embedded
    database. ``verbose`` prints each call's method and outcome to stderr. ``verify``
    (remote HTTPS only) is ``True``, ``False`` or the path of a CA bundle.
    """

    def __init__(
        self,
        target: Any,
        login: str,
        password: str,
        port: int = 443,
        verbose: int = 0,
        verify: bool | str | os.PathLike[str] = True,
    ) -> None:
        self.target = target
        self.login = login
        self.password = password
        self.port = port
        self.verbose = verbose
        self.session_id: str | None = None
        found = _resolve_target(target, login, password, port)
        self._engine_ref: tollgate.Engine | None = None
        self._remote: _Remote | None = None
        if isinstance(found, str):
            self._remote = _Remote(found, verify)
        else:
            self._engine_ref = found
        self._closed = False

    @property
    def _engine(self) -> tollgate.Engine:
        if self._engine_ref is None:
            raise _transport_error("this client is closed")
        return self._engine_ref

    @property
    def engine(self) -> tollgate.Engine:
        """The embedded engine this client talks to (a remote client has none)."""
        if self._remote is not None and not self._closed:
            raise VcsApiError(_INVALID_PARAMS, f"{self._remote.base} is a remote server")
        return self._engine

    @property
    def url(self) -> str | None:
        """The server's base URL, for a remote client."""
        return self._remote.base if self._remote is not None else None

    def _envelope(self, method: str, sent: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise _transport_error("this client is closed")
        if self._remote is not None:
            return self._remote.envelope(method, sent)
        try:
            return self._engine.call_envelope(method, sent)
        except TollgateError as e:
            if e.code == "api.malformed_request":
                raise VcsApiError(_INVALID_PARAMS, f"Invalid params for {method}: {e.message}") from e
            raise VcsApiError(e.c_code, f"{method}: {e.message}") from e
        except ValueError as e:  # the engine was closed
            raise _transport_error(str(e)) from e

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
        reply = self._envelope(method, sent)
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
        if self._closed:
            raise _transport_error("this client is closed")
        directory = os.fspath(dir) if dir is not None else tempfile.gettempdir()
        url = "/admin/" + method.replace(".", "/")
        fd, path = tempfile.mkstemp(prefix="vcsapi-", dir=directory)
        os.close(fd)
        try:
            if self._remote is not None:
                sent["__api"] = 1
                name, content_type = self._remote.file(method, sent, path)
            else:
                info = self._engine.call_file(method, sent, path)
                name, content_type = info.name or None, info.content_type
        except TollgateError as e:
            _remove(path)
            if e.code == "api.unknown_method":
                raise VcsApiError(_METHOD_NOT_FOUND, f"{url}: {e.message}") from e
            raise VcsApiError(e.c_code, f"{url}: {e.message}") from e
        except BaseException:
            _remove(path)
            raise
        if realname and name:
            target = os.path.join(directory, os.path.basename(name))
            os.replace(path, target)
            path = target
        self._say(f"{method} -> file {path}")
        return {"file": path, "name": name, "type": content_type}

    def close(self) -> None:
        """Let go of the engine: the database closes once no client or caller uses it.
        Later calls raise ``VcsApiProtocolError``."""
        self._engine_ref = None
        self._closed = True


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --- the remote transport ------------------------------------------------------------------


class _Remote:
    """JSON-RPC and file downloads against a Tollgate server over HTTP(S)."""

    def __init__(self, base: str, verify: bool | str | os.PathLike[str]) -> None:
        self.base = base
        self._ids = itertools.count(1)
        self._context: ssl.SSLContext | None = None
        if base.startswith("https://"):
            if verify is False:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif verify is True:
                ctx = ssl.create_default_context()
            else:
                ctx = ssl.create_default_context(cafile=os.fspath(verify))
            self._context = ctx

    def _post(self, path: str, body: bytes, content_type: str) -> tuple[int, Any, bytes]:
        """(status, headers, body) of a POST; transport failures raise 110."""
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(
                request, timeout=_HTTP_TIMEOUT_S, context=self._context
            ) as reply:
                return reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise _transport_error(str(reason)) from e

    def envelope(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = _native.json_dumps(params)
        except TollgateError as e:
            raise VcsApiError(_INVALID_PARAMS, f"Invalid params for {method}: {e.message}") from e
        body = '{"jsonrpc": "2.0", "id": %d, "method": %s, "params": %s}' % (
            next(self._ids),
            json.dumps(method),
            encoded,
        )
        status, _, raw = self._post("/jsonrpc/", body.encode(), "application/json")
        if status != 200:
            raise VcsApiProtocolError(status, f"HTTP: {status}")
        try:
            reply = _native.json_loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            reply = None
        if not isinstance(reply, dict) or not isinstance(reply.get("result", reply.get("error")), dict):
            raise VcsApiProtocolError(_FORMAT, f"Response format error [response: {raw[:128]!r}]")
        if "error" in reply:
            error = reply["error"]
            message = str(error.get("message", ""))
            if method not in message:
                message = f"{message}: {method}"
            raise VcsApiError(int(error.get("code", 0)), message)
        result: dict[str, Any] = reply["result"]
        return result

    def file(self, method: str, params: dict[str, Any], path: str) -> tuple[str | None, str]:
        """Download into ``path``; returns (suggested name, content type)."""
        url = "/admin/" + method.replace(".", "/")
        fields = [(k, v) for k, v in _form_fields("", params)]
        status, headers, raw = self._post(
            url, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
        )
        vcs_status = headers.get("X-VCS-Status") if headers is not None else None
        if vcs_status is not None:
            # A refusal, as the vendor's client reads it: the status header, whatever HTTP said.
            detail = ""
            try:
                envelope = _native.json_loads(raw.decode("utf-8"))
                detail = str(((envelope.get("errors") or [{}])[0]).get("message", ""))
            except (UnicodeDecodeError, ValueError, AttributeError):
                pass
            code = headers.get("X-VCS-Error")
            if code == "api.unknown_method":
                raise VcsApiError(_METHOD_NOT_FOUND, f"{url}: {detail or 'unknown method'}")
            try:
                number = int(vcs_status)
            except ValueError:
                raise VcsApiProtocolError(_FORMAT, f"{url}: bad X-VCS-Status {vcs_status!r}") from None
            raise VcsApiError(number, f"{url}: {detail}" if detail else url)
        if status != 200:
            raise VcsApiProtocolError(status, f"HTTP: {status}")
        with open(path, "wb") as out:
            out.write(raw)
        content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip()
        return _disposition_name(headers.get("Content-Disposition") or ""), content_type


def _form_fields(prefix: str, value: Any) -> list[tuple[str, str]]:
    """PHP's http_build_query: nested dicts and lists as ``a[b][0]=...``."""
    if isinstance(value, Mapping):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out.extend(_form_fields(f"{prefix}[{k}]" if prefix else str(k), v))
        return out
    if isinstance(value, (list, tuple)):
        out = []
        for i, v in enumerate(value):
            out.extend(_form_fields(f"{prefix}[{i}]", v))
        return out
    if value is None:
        return [(prefix, "")]
    if value is True or value is False:
        return [(prefix, "1" if value else "0")]
    return [(prefix, str(value))]


def _disposition_name(header: str) -> str | None:
    """The file name of a Content-Disposition header (``filename*`` preferred)."""
    m = re.search(r"filename\*\s*=\s*UTF-8''([^;]+)", header, re.IGNORECASE)
    if m:
        return os.path.basename(urllib.parse.unquote(m.group(1).strip()))
    m = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', header, re.IGNORECASE)
    if m:
        return os.path.basename(m.group(1).replace('\\"', '"')) or None
    m = re.search(r"filename\s*=\s*([^;\s]+)", header, re.IGNORECASE)
    if m:
        return os.path.basename(m.group(1)) or None
    return None
