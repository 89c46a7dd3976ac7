"""Event callbacks: a Python callable as a provisioning handler of kind ``callback``."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import tollgate


def handler(e: tollgate.Engine, event: str, stage: str = "after", name: str = "python") -> int:
    r = e.call_as_system(
        "provisioning.add",
        {"name": f"py-{event}-{stage}", "event": event, "stage": stage, "kind": "callback", "target": name},
    )
    return int(r["id"])


def test_after_events_reach_the_callable_with_the_jerasoft_payload(engine: tollgate.Engine) -> None:
    seen: list[dict[str, Any]] = []
    engine.on_event(seen.append)
    handler(engine, "clients.create")
    handler(engine, "clients.update")
    cid = engine.call_as_system("clients.add", {"name": "Evented"})["id"]
    engine.call_as_system("clients.edit", {"id": cid, "name": "Renamed"})
    engine.deliver_events()
    got = sorted(seen, key=lambda ev: ev["id"])
    assert [ev["event"] for ev in got] == ["clients.create", "clients.update"]
    assert all(ev["stage"] == "after" and ev["object_id"] == cid for ev in got)
    assert got[0]["payload"]["event"]["events_id"] == "clients.create"
    assert got[1]["payload"]["data"]["name"] == "Renamed"


def test_a_callback_that_raises_does_not_crash_the_engine_and_is_logged(
    engine: tollgate.Engine,
) -> None:
    def boom(ev: dict[str, Any]) -> None:
        raise RuntimeError("receiver is down")

    engine.on_event(boom)
    hid = handler(engine, "clients.create")
    engine.call_as_system("clients.add", {"name": "One"})
    # The background worker may make the attempt before this thread does: wait for it.
    logs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not logs and time.monotonic() < deadline:
        report = engine.deliver_events()
        assert report["delivered"] == 0
        logs = engine.call_as_system("provisioning.logs", {"id_handlers": hid})["rows"]
        time.sleep(0.01)
    assert len(logs) == 1
    assert "RuntimeError" in str(logs[0]) and "receiver is down" in str(logs[0])
    # The engine goes on working.
    assert engine.call_as_system("clients.list")["total"] == 1


def test_a_before_callback_forbids_or_allows(engine: tollgate.Engine) -> None:
    def policy(ev: dict[str, Any]) -> bool | str:
        name = ev["payload"]["data"].get("name", "")
        return "no test clients" if name.startswith("test") else True

    engine.on_event(policy, name="policy")
    handler(engine, "clients.create", stage="before", name="policy")
    with pytest.raises(tollgate.HandlerForbiddenError) as info:
        engine.call_as_system("clients.add", {"name": "test-1"})
    assert "no test clients" in str(info.value)
    engine.call_as_system("clients.add", {"name": "real"})
    assert engine.call_as_system("clients.list")["total"] == 1
    assert engine.off_event("policy") is True
    assert engine.off_event("policy") is False


def test_on_event_refuses_what_is_not_callable(engine: tollgate.Engine) -> None:
    with pytest.raises(TypeError):
        engine.on_event(42)  # type: ignore[arg-type]


def test_the_delivery_thread_calls_back_while_the_main_thread_holds_the_gil(
    engine: tollgate.Engine,
) -> None:
    called = threading.Event()
    threads: list[str] = []

    def on_event(ev: dict[str, Any]) -> None:
        threads.append(threading.current_thread().name)
        called.set()

    engine.on_event(on_event)
    handler(engine, "clients.create")
    engine.call_as_system("clients.add", {"name": "Background"})
    # Hold the GIL in pure Python (no sleep, no I/O) until the background worker's call
    # has run: a deadlock would spin here until the deadline.
    deadline = time.monotonic() + 20
    while not called.is_set() and time.monotonic() < deadline:
        pass
    assert called.is_set(), "the delivery thread never got to run the callback"
    assert threads and threads[0] != threading.main_thread().name
