"""Helpers shared by the tests (python/tests is on sys.path through pytest's pythonpath)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

import tollgate
import vcsapi

ADMIN = "admin"
ADMIN_PW = "admin-passw0rd"


def rated_client(
    engine: tollgate.Engine, credit: str = "0", ident: str = "100", name: str = "Caller"
) -> int:
    """A client on a rate table (44: 1/min, 4420: 0.5/min, billed per second with a 30 s
    minimum, 0.3 setup fee) with an ANI account ``ident``. Returns the client id."""
    table = engine.call_as_system("rateTables.add", {"name": f"Retail {ident}", "rounding": "half_up"})["id"]
    for code, code_name, rate in [("44", "UK", "1"), ("4420", "London", "0.5")]:
        engine.call_as_system(
            "rates.add",
            {
                "id_rate_tables": table,
                "code": code,
                "code_name": code_name,
                "rate": Decimal(rate),
                "min_volume": 30,
                "interval": 1,
                "grace_volume": 2,
                "setup_fee": Decimal("0.3"),
                "effective_from": "2020-01-01",
            },
        )
    client: int = engine.call_as_system(
        "clients.add", {"name": name, "orig_rate_table": table, "credit": Decimal(credit)}
    )["id"]
    engine.call_as_system(
        "accounts.add",
        {"id_clients": client, "name": f"ani {ident}", "auth_type": "ani", "ident": ident},
    )
    return client


def balance(engine: tollgate.Engine, client: int) -> Any:
    return engine.call_as_system("clients.editForm", {"id_clients": client})["client"]["balance"]


class Connect(Protocol):
    """Makes a ``vcsapi.Api`` on the test's database: embedded, or through a live server."""

    def __call__(
        self, login: str = ADMIN, password: str = ADMIN_PW, verbose: int = 0
    ) -> vcsapi.Api: ...
