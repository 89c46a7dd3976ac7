"""tollgate and vcsapi on a PostgreSQL database (issue 16): ``tollgate.Engine.create/open``
and ``vcsapi.Api(target)`` take a ``postgres://`` URL where they take a file, and nothing
shows its password. Needs ``TOLLGATE_TEST_PG`` (scripts/pg-cluster.sh start); without it the
tests are skipped, unless ``TOLLGATE_REQUIRE_PG=1`` (the test script sets it)."""

from __future__ import annotations

import os
import subprocess
import urllib.parse
import uuid

import pytest
from support import ADMIN, ADMIN_PW

import tollgate
import vcsapi
from tollgate import errors


def _server() -> str:
    url = os.environ.get("TOLLGATE_TEST_PG")
    if not url:
        if os.environ.get("TOLLGATE_REQUIRE_PG") == "1":
            pytest.fail("TOLLGATE_REQUIRE_PG=1 but TOLLGATE_TEST_PG is not set")
        pytest.skip("no PostgreSQL server (TOLLGATE_TEST_PG)")
    return url


@pytest.fixture
def pg_url() -> str:
    """A new, empty database on the test server: its URL."""
    admin = _server()
    name = f"tgpy_{uuid.uuid4().hex[:16]}"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    parts = urllib.parse.urlsplit(admin)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def test_engine_create_and_open_on_a_postgres_url(pg_url: str) -> None:
    password = urllib.parse.urlsplit(pg_url).password or ""
    with tollgate.Engine.create(pg_url, ADMIN, ADMIN_PW) as e:
        cid = e.call_as_system("clients.add", {"name": "On Postgres"})["id"]
        assert password not in e.path and password not in repr(e)
        # One engine owns the database.
        with pytest.raises(errors.DatabaseInUseError):
            tollgate.Engine.open(pg_url)
    with tollgate.Engine.open(pg_url) as again:
        got = again.call_as_system("clients.editForm", {"id": cid})
        assert got["client"]["name"] == "On Postgres"


def test_vcsapi_api_on_a_postgres_url(pg_url: str) -> None:
    with tollgate.Engine.create(pg_url, ADMIN, ADMIN_PW):
        pass
    api = vcsapi.Api(pg_url, ADMIN, ADMIN_PW)
    r = api.clients.add({"name": "Via vcsapi"})
    assert r.code, r.errors
    assert api.clients.list({}).data["total"] == 1


def test_bad_credentials_and_databases_are_specific_and_hide_the_password(pg_url: str) -> None:
    parts = urllib.parse.urlsplit(pg_url)
    wrong = urllib.parse.urlunsplit(
        parts._replace(netloc=f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}")
    )
    with pytest.raises(errors.DatabaseAccessDeniedError) as denied:
        tollgate.Engine.open(wrong)
    assert "not-the-password" not in str(denied.value)
    with pytest.raises(errors.DatabaseNotFoundError):
        tollgate.Engine.open(pg_url)  # empty: nothing to open until create
    with pytest.raises(vcsapi.VcsApiProtocolError) as refused:
        vcsapi.Api(wrong, ADMIN, ADMIN_PW)
    assert "not-the-password" not in str(refused.value)
