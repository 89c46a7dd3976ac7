"""Threads calling one engine at once: totals stay exact, and the GIL is released."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from support import ADMIN, ADMIN_PW, balance, rated_client

import tollgate
import vcsapi

THREADS = 8
PER_THREAD = 25


def test_threads_paying_through_one_engine_keep_exact_totals(engine: tollgate.Engine) -> None:
    cid = engine.call_as_system("clients.add", {"name": "Busy"})["id"]
    sid = engine.login(ADMIN, ADMIN_PW)

    def pay(worker: int) -> int:
        for i in range(PER_THREAD):
            engine.call(
                "transactions.add",
                {
                    "SID": sid,
                    "id_clients": cid,
                    "type": "payment",
                    "amount": Decimal("0.01"),
                    "idempotency_key": f"w{worker}-{i}",
                },
            )
        return PER_THREAD

    with ThreadPoolExecutor(THREADS) as pool:
        done = sum(pool.map(pay, range(THREADS)))
    assert done == THREADS * PER_THREAD
    assert balance(engine, cid) == Decimal("0.01") * THREADS * PER_THREAD
    listed = engine.call_as_system("transactions.list", {"id_clients": cid, "limit": 1000})
    assert listed["total"] == THREADS * PER_THREAD


def test_threads_charging_calls_never_overspend(engine: tollgate.Engine) -> None:
    """Hot path from many threads: every settle is charged once, and the balance is the
    payment minus the sum of the charged costs."""
    cid = rated_client(engine, credit="0")
    engine.call_as_system("transactions.add", {"id_clients": cid, "type": "payment", "amount": Decimal("50")})
    costs: list[Decimal] = []
    lock = threading.Lock()

    def calls(worker: int) -> None:
        for i in range(10):
            try:
                granted = engine.authorize("100", "442071234567")
            except tollgate.BalanceInsufficientError:
                continue
            # A softswitch cuts the call at the granted maximum.
            duration = min(45, granted.max_seconds)
            s = engine.settle(f"t{worker}-{i}", duration, reservation=granted.reservation)
            with lock:
                costs.append(s.cost)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(calls, range(THREADS)))
    assert costs
    assert balance(engine, cid) == Decimal("50") - sum(costs, Decimal(0))
    assert balance(engine, cid) >= 0
    assert engine.call_as_system("xdrs.list", {"limit": 1000})["total"] == len(costs)


def test_vcsapi_clients_in_threads_share_one_database(db_path: object) -> None:
    api = vcsapi.Api(db_path, ADMIN, ADMIN_PW)
    cid = api.clients.add({"name": "Shared"})["id"]

    def work(worker: int) -> bool:
        mine = vcsapi.Api(db_path, ADMIN, ADMIN_PW)
        ok = True
        for _ in range(5):
            r = mine.transactions.add({"id_clients": cid, "type": "payment", "amount": Decimal("1.25")})
            ok = ok and r.code is True
        return ok

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(4)))
    assert api.clients.editForm({"id_clients": cid})["client"]["balance"] == Decimal("25.00")


def test_the_gil_is_released_while_the_engine_works(engine: tollgate.Engine) -> None:
    """While one thread is inside the engine (an Argon2id password check takes a while), the
    main thread keeps running Python. With the GIL held for the whole call, the main thread
    could not record a single timestamp inside the call's window."""
    windows: list[tuple[float, float]] = []
    stop = threading.Event()

    def logins() -> None:
        for _ in range(3):
            start = time.monotonic()
            try:
                engine.login(ADMIN, "wrong-passw0rd")
            except tollgate.AuthFailedError:
                pass
            windows.append((start, time.monotonic()))
        stop.set()

    stamps: list[float] = []
    worker = threading.Thread(target=logins)
    worker.start()
    while not stop.is_set():
        stamps.append(time.monotonic())
    worker.join()
    inside = [sum(1 for t in stamps if lo < t < hi) for lo, hi in windows]
    assert max(inside) > 10, (inside, windows)
