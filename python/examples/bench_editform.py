"""Calls per second of api.clients.editForm against an embedded database (for the notes in
docs/python.md; performance figures of the engine itself come from the criterion benches).

    python python/examples/bench_editform.py [--calls N] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from decimal import Decimal

import tollgate
import vcsapi

PASSWORD = "bench-passw0rd"


def run(path: str, calls: int, threads: int) -> float:
    tollgate.Engine.create(path, "admin", PASSWORD).close()
    api = vcsapi.Api(path, "admin", PASSWORD)
    cid = api.clients.add({"name": "Bench", "credit": Decimal("10")})["id"]
    api.clients.editForm({"id_clients": cid})  # log in once; later calls send SID
    per_thread = max(1, calls // threads)

    def work() -> None:
        mine = vcsapi.Api(path, "admin", PASSWORD)
        mine.session_id = api.session_id
        for _ in range(per_thread):
            r = mine.clients.editForm({"id_clients": cid})
            assert r.code is True

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    return per_thread * threads / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate = run(os.path.join(tmp, "bench.db"), args.calls, args.threads)
    print(f"clients.editForm embedded: {rate:,.0f} calls/s ({args.calls} calls, {args.threads} threads)")


if __name__ == "__main__":
    main()
