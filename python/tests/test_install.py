"""The installed wheel: where it is imported from, its typing files, its stubs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig

import tollgate
import vcsapi
from tollgate import _native

ROOT = pathlib.Path(__file__).resolve().parent.parent  # python/


def test_packages_come_from_the_installed_wheel_not_the_source_tree() -> None:
    site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
    for module in (tollgate, vcsapi, _native):
        where = pathlib.Path(module.__file__ or "").resolve()
        assert site in where.parents, where
        assert ROOT / "python" not in where.parents
    assert _native.__file__ is not None and ".abi3." in os.path.basename(_native.__file__)


def test_version_comes_from_cargo() -> None:
    cargo = (ROOT / "Cargo.toml").read_text()
    workspace = (ROOT.parent / "Cargo.toml").read_text()
    assert "version.workspace = true" in cargo
    assert f'version = "{tollgate.__version__}"' in workspace


def test_typing_files_ship_with_both_packages() -> None:
    for module in (tollgate, vcsapi):
        folder = pathlib.Path(module.__file__ or "").parent
        assert (folder / "py.typed").exists(), folder
    folder = pathlib.Path(tollgate.__file__ or "").parent
    assert (folder / "_native.pyi").exists()
    assert (folder / "errors.pyi").exists()


def test_the_error_stub_matches_the_engine_table() -> None:
    tool = ROOT / "tools" / "gen_error_stubs.py"
    done = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # And the installed copy is the checked-in one.
    installed = pathlib.Path(tollgate.__file__ or "").parent / "errors.pyi"
    assert installed.read_text() == (ROOT / "python" / "tollgate" / "errors.pyi").read_text()


def test_stubtest_finds_the_stubs_consistent_with_the_runtime() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "tollgate", "vcsapi", "--ignore-missing-stub"],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_accepts_the_examples() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(ROOT / "examples")],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
    )
    assert done.returncode == 0, done.stdout + done.stderr
