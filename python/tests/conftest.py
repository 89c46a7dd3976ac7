"""Shared fixtures. Tests import the INSTALLED wheel (see test_install.py), never the source
tree: pytest runs with --import-mode=importlib and python/python is not on sys.path."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from support import ADMIN, ADMIN_PW

import tollgate


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
