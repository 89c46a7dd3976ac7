"""A vcsapi script in the style of JeraSoft's example: create a reseller, a client under it,
an account, take a payment and show the balance.

    python python/examples/billing_demo.py [billing.db]

Without an argument it works on a new database in a temporary directory. The only line that
differs from a script written for JeraSoft's billing is the target given to vcsapi.Api.
"""

from __future__ import annotations

import os
import sys
import tempfile
from decimal import Decimal

import tollgate
import vcsapi

LOGIN = "admin"
PASSWORD = os.environ.get("TOLLGATE_ADMIN_PASSWORD", "demo-passw0rd")


def main(path: str) -> int:
    if not os.path.exists(path):
        # One-time set-up: a database with one administrator.
        tollgate.Engine.create(path, LOGIN, PASSWORD).close()

    # vcsapi.Api('vcs-demo.jerasoft.net', 'demo', 'demo', 443) becomes:
    api = vcsapi.Api(path, LOGIN, PASSWORD, 443)

    reseller = api.companies.add({"name": "Reseller A"})
    if not reseller.code:
        print("companies.add refused:", reseller.errors)
        return 1
    print("reseller", reseller["id"])

    client = api.clients.add(
        {"name": "Customer 01", "id_companies": reseller["id"], "credit": Decimal("50.00")}
    )
    if not client.code:
        print("clients.add refused:", client.errors)
        return 1
    print("client", client["id"])

    ani = f"331{client['id']:06d}"
    account = api.accounts.add(
        {"id_clients": client["id"], "name": f"SIP {ani}", "auth_type": "ani", "ident": ani}
    )
    if not account.code:
        print("accounts.add refused:", account.errors)
        return 1
    print("account", account["id"], "ani", ani)

    payment = api.transactions.add(
        {"id_clients": client["id"], "type": "payment", "amount": Decimal("25.50")}
    )
    print("payment", payment["transaction"]["id"], "balance after", payment["transaction"]["balance_after"])

    response = api.clients.editForm({"id_clients": client["id"]})
    print(response.code)  # True
    print(response.messages)  # []
    data = response.data["client"]
    print("balance", data["balance"], "credit", data["credit"])

    refused = api.clients.editForm({"id_clients": 999999})
    print("refused:", refused.code, refused.errors[0]["code"])
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(sys.argv[1]))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(os.path.join(tmp, "billing.db")))
