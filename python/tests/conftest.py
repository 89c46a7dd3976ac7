"""Shared fixtures. Tests import the INSTALLED wheel (see test_install.py), never the source
tree: pytest runs with --import-mode=importlib and python/python is not on sys.path."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import threading
from collections.abc import Iterator

import pytest
from support import ADMIN, ADMIN_PW, Connect

import tollgate
import vcsapi


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    """A fresh database file with one administrator, closed again."""
    path = tmp_path / "billing.db"
    with tollgate.Engine.create(path, ADMIN, ADMIN_PW):
        pass
    return path


@pytest.fixture
def engine() -> Iterator[tollgate.Engine]:
    with tollgate.Engine.create(":memory:", ADMIN, ADMIN_PW) as e:
        yield e


def tollgate_binary() -> str:
    """The `tollgate` binary `cargo test` built (TOLLGATE_BIN overrides)."""
    if os.environ.get("TOLLGATE_BIN"):
        return os.environ["TOLLGATE_BIN"]
    root = pathlib.Path(__file__).resolve().parents[2]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    return str(target / "debug" / "tollgate")


class Server:
    """`tollgate serve DB` on 127.0.0.1 (a free port), for the remote vcsapi tests."""

    def __init__(self, db: pathlib.Path, tls: tuple[pathlib.Path, pathlib.Path] | None = None):
        args = [tollgate_binary(), "serve", str(db), "--listen", "127.0.0.1:0"]
        if tls is not None:
            args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        try:
            event = json.loads(first)
        except ValueError:
            self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
            raise AssertionError(f"tollgate serve did not start: {first!r}") from None
        assert event.get("event") == "listening", first
        self.url: str = event["message"]
        self.port = int(self.url.rsplit(":", 1)[1])
        # Keep draining the request log so the server never blocks on a full pipe.
        self._drain = threading.Thread(target=self.proc.stderr.read, daemon=True)
        self._drain.start()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._drain.join(timeout=20)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(params=["embedded", "remote"])
def connect(request: pytest.FixtureRequest, db_path: pathlib.Path) -> Iterator[Connect]:
    """A vcsapi client factory on `db_path`: embedded, or over HTTP through a live server
    started on first use (after the test's direct setup of the database)."""
    servers: list[Server] = []

    def make(login: str = ADMIN, password: str = ADMIN_PW, verbose: int = 0) -> vcsapi.Api:
        if request.param == "embedded":
            return vcsapi.Api(db_path, login, password, verbose=verbose)
        if not servers:
            servers.append(Server(db_path))
        return vcsapi.Api(servers[0].url, login, password, verbose=verbose)

    yield make
    for s in servers:
        s.stop()
