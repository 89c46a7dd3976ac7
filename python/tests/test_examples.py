"""The example scripts run as the README shows."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run(*args: str, cwd: pathlib.Path) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_billing_demo_runs_and_shows_the_balance(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "billing.db"
    out = run(str(EXAMPLES / "billing_demo.py"), str(db), cwd=tmp_path)
    lines = out.splitlines()
    assert "True" in lines and "[]" in lines
    assert "balance 25.50 credit 50.00" in lines
    assert "refused: False not_found" in lines
    assert db.exists()
    # A second run works on the same file and adds a second client.
    again = run(str(EXAMPLES / "billing_demo.py"), str(db), cwd=tmp_path)
    assert "client 2" in again.splitlines()


def test_the_benchmark_script_reports_calls_per_second(tmp_path: pathlib.Path) -> None:
    out = run(str(EXAMPLES / "bench_editform.py"), "--calls", "200", "--threads", "2", cwd=tmp_path)
    assert "clients.editForm embedded:" in out and "calls/s" in out
