"""vcsapi: the vendor client's behaviours one by one. Every test taking ``connect`` runs twice:
against the embedded database, and against a live ``tollgate serve`` over HTTP on 127.0.0.1."""

from __future__ import annotations

import csv
import http.server
import os
import pathlib
import socket
import subprocess
import threading
from decimal import Decimal

import pytest
from conftest import Server
from support import ADMIN, ADMIN_PW, Connect, rated_client

import tollgate
import vcsapi


def make_client(path: pathlib.Path, name: str = "Customer 01") -> int:
    with tollgate.Engine.open(path) as e:
        cid: int = e.call_as_system("clients.add", {"name": name, "credit": Decimal("100")})["id"]
    return cid


def test_the_seed_usage_runs_as_written_against_a_database_file(
    connect: Connect, db_path: pathlib.Path
) -> None:
    cid = make_client(db_path)
    # The seed: api = vcsapi.Api('vcs-demo.jerasoft.net', 'demo', 'demo', 443), with the
    # target changed to a database file.
    api = connect()
    response = api.clients.editForm({"id_clients": cid})
    assert response.code is True
    assert response.messages == []
    assert response.data["client"]["id"] == cid
    assert response.data["client"]["name"] == "Customer 01"
    assert response.errors == []
    assert response.session_id is not None and response.session_id.startswith("1-")


def test_response_indexing_reads_and_writes_data(connect: Connect, db_path: pathlib.Path) -> None:
    cid = make_client(db_path)
    r = connect().clients.editForm({"id_clients": cid})
    assert r["client"] is r.data["client"]
    assert "client" in r and "nothing" not in r
    r["note"] = "kept"
    assert r.data["note"] == "kept"
    del r["note"]
    assert "note" not in r.data
    with pytest.raises(KeyError):
        r["nothing"]


def test_only_the_first_positional_argument_counts(connect: Connect, db_path: pathlib.Path) -> None:
    first = make_client(db_path, "First")
    second = make_client(db_path, "Second")
    api = connect()
    r = api.clients.editForm({"id_clients": first}, {"id_clients": second}, "ignored")
    assert r.code is True
    assert r["client"]["name"] == "First"
    # No argument at all means empty params.
    listed = api.clients.list()
    assert listed.code is True
    assert listed["total"] == 2


def test_the_session_id_replaces_login_and_password_after_the_first_success(
    connect: Connect, db_path: pathlib.Path
) -> None:
    cid = make_client(db_path)
    api = connect()
    assert api.session_id is None
    params = {"id_clients": cid}
    first = api.clients.editForm(params)
    assert first.code is True
    assert api.session_id == first.session_id
    # The caller's dict is not changed (no auth or SID added to it).
    assert params == {"id_clients": cid}
    # Later calls send SID only: a wrong password no longer matters...
    api.password = "not-the-password"
    assert api.clients.editForm(params).code is True
    # ...and a logout makes the stored session useless, as with the vendor's client.
    assert api.auth.logout().code is True
    after = api.clients.editForm(params)
    assert after.code is False
    assert after.errors[0]["code"] == "auth.session_invalid"


def test_a_refused_login_stores_no_session(connect: Connect, db_path: pathlib.Path) -> None:
    api = connect(password="wrong-passw0rd")
    r = api.clients.list({})
    assert r.code is False
    assert r.data == []
    assert r.errors[0]["code"] == "auth.failed"
    assert api.session_id is None


def test_a_refused_call_returns_code_false_and_does_not_raise(
    connect: Connect, db_path: pathlib.Path
) -> None:
    api = connect()
    missing = api.clients.editForm({"id_clients": 4242})
    assert missing.code is False
    assert missing.data == []
    assert missing.errors == [{"code": "not_found", "message": "client 4242 not found"}]
    bad = api.clients.add({"credit": "100"})
    assert bad.code is False
    assert bad.errors[0]["code"] == "validation.required"
    assert bad.errors[0]["field"] == "name"
    # Nothing was written by the refused add.
    assert api.clients.list({})["total"] == 0


@pytest.mark.parametrize("params", [5, "id_clients=1", [1, 2], 1.5])
def test_params_that_are_not_a_dict_raise(
    connect: Connect, db_path: pathlib.Path, params: object
) -> None:
    api = connect()
    with pytest.raises(vcsapi.VcsApiError) as info:
        api.clients.editForm(params)
    assert info.value.code == -32602
    assert "must be a dict" in info.value.message
    assert not isinstance(info.value, vcsapi.VcsApiProtocolError)


def test_keyword_arguments_raise_a_clear_error(connect: Connect, db_path: pathlib.Path) -> None:
    api = connect()
    with pytest.raises(vcsapi.VcsApiError, match="one dict"):
        api.clients.editForm(id_clients=1)


def test_an_unknown_method_raises_method_not_found(connect: Connect, db_path: pathlib.Path) -> None:
    api = connect()
    with pytest.raises(vcsapi.VcsApiError) as info:
        api.clients.noSuchAction({})
    assert info.value.code == -32601
    assert "clients.noSuchAction" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [object(), float("nan"), Decimal("Infinity"), {1: "int key"}, b"bytes"],
)
def test_values_without_a_json_form_raise_and_change_nothing(
    connect: Connect, db_path: pathlib.Path, value: object
) -> None:
    api = connect()
    with pytest.raises(vcsapi.VcsApiError) as info:
        api.clients.add({"name": "X", "notes": value})
    assert info.value.code == -32602
    assert api.clients.list({})["total"] == 0


def test_a_server_that_cannot_be_reached_is_a_transport_error() -> None:
    # A port nobody listens on (bound, then closed).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for api in [
        vcsapi.Api("127.0.0.1", "demo", "demo", port),
        vcsapi.Api(f"http://127.0.0.1:{port}", "demo", "demo"),
    ]:
        assert api.url is not None and str(port) in api.url
        with pytest.raises(vcsapi.VcsApiProtocolError) as info:
            api.clients.list({})
        assert info.value.code == 110
        assert info.value.message.startswith("Transport: ")
        assert isinstance(info.value, vcsapi.VcsApiError)
    # The vendor's rule: port 80 is plain HTTP, anything else HTTPS.
    assert vcsapi.Api("billing.example.net", "demo", "demo", 80).url == "http://billing.example.net:80"
    assert vcsapi.Api("billing.example.net", "demo", "demo").url == "https://billing.example.net:443"
    with pytest.raises(vcsapi.VcsApiError):
        vcsapi.Api("billing.example.net", "demo", "demo", 0)
    with pytest.raises(vcsapi.VcsApiError):
        vcsapi.Api("not a host!", "demo", "demo")


def test_http_errors_and_undecodable_replies_carry_the_vendor_codes() -> None:
    # Not Tollgate: a local HTTP server answering 503, then a 200 that is not JSON-RPC.
    answers = [(503, b"busy"), (200, b"<html>not json</html>")]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            status, body = answers.pop(0)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        api = vcsapi.Api(f"http://127.0.0.1:{httpd.server_address[1]}", ADMIN, ADMIN_PW)
        with pytest.raises(vcsapi.VcsApiProtocolError) as status:
            api.clients.list({})
        assert (status.value.code, status.value.message) == (503, "HTTP: 503")
        with pytest.raises(vcsapi.VcsApiProtocolError) as garbled:
            api.clients.list({})
        assert garbled.value.code == 121
        assert garbled.value.message.startswith("Response format error [response: ")
        httpd.shutdown()


def test_tls_with_a_self_signed_certificate(db_path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    with Server(db_path, tls=(cert, key)) as server:
        port = server.port
        # The seed's form, host and port: HTTPS because the port is not 80.
        api = vcsapi.Api("127.0.0.1", ADMIN, ADMIN_PW, port, verify=str(cert))
        assert api.url == f"https://127.0.0.1:{port}"
        r = api.clients.list({})
        assert r.code is True and r.session_id
        # Certificates are verified by default: a self-signed one is refused...
        with pytest.raises(vcsapi.VcsApiProtocolError) as info:
            vcsapi.Api("127.0.0.1", ADMIN, ADMIN_PW, port).clients.list({})
        assert info.value.code == 110
        # ...unless verification is turned off, as the vendor's client always does.
        assert vcsapi.Api("127.0.0.1", ADMIN, ADMIN_PW, port, verify=False).clients.list({}).code


def test_a_missing_database_is_a_protocol_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(vcsapi.VcsApiProtocolError) as info:
        vcsapi.Api(str(tmp_path / "absent.db"), ADMIN, ADMIN_PW)
    assert "absent.db" in info.value.message
    assert not (tmp_path / "absent.db").exists()


def test_uri_and_path_targets_reach_the_same_database(db_path: pathlib.Path) -> None:
    cid = make_client(db_path)
    targets: list[object] = [
        db_path,
        str(db_path),
        "file:" + str(db_path),
        "file://" + str(db_path),
        "sqlite:///" + str(db_path),
    ]
    apis = [vcsapi.Api(t, ADMIN, ADMIN_PW) for t in targets]
    # Clients on one file share one engine (the file can have only one owner).
    assert len({id(a.engine) for a in apis}) == 1
    for api in apis:
        assert api.clients.editForm({"id_clients": cid})["client"]["id"] == cid
    apis[0].clients.edit({"id_clients": cid, "name": "Renamed"})
    assert apis[-1].clients.editForm({"id_clients": cid})["client"]["name"] == "Renamed"


def test_memory_target_is_a_fresh_database_with_the_given_administrator() -> None:
    api = vcsapi.Api(":memory:", "operator", "operator-passw0rd")
    r = api.clients.add({"name": "Customer A", "credit": Decimal("100.00")})
    assert r.code is True
    assert api.clients.editForm({"id_clients": r["id"]})["client"]["credit"] == Decimal("100.00")
    # Another :memory: client is another database.
    other = vcsapi.Api(":memory:", "operator", "operator-passw0rd")
    assert other.clients.list({})["total"] == 0
    with pytest.raises(vcsapi.VcsApiError):
        vcsapi.Api(":memory:", "demo", "demo")  # too short a password for a new admin


def test_an_engine_can_be_the_target(engine: tollgate.Engine) -> None:
    api = vcsapi.Api(engine, ADMIN, ADMIN_PW)
    assert api.clients.list({}).code is True
    assert api.engine is engine


def test_money_is_decimal_both_ways(connect: Connect, db_path: pathlib.Path) -> None:
    api = connect()
    cid = api.clients.add({"name": "Money", "credit": Decimal("100.10")})["id"]
    pay = api.transactions.add({"id_clients": cid, "type": "payment", "amount": 0.1})
    assert pay.code is True, pay.errors
    client = api.clients.editForm({"id_clients": cid})["client"]
    assert client["credit"] == Decimal("100.10") and isinstance(client["credit"], Decimal)
    assert client["balance"] == Decimal("0.1") and isinstance(client["balance"], Decimal)


def test_verbose_reports_calls_on_stderr(
    connect: Connect, db_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connect(verbose=1).clients.list({})
    err = capsys.readouterr().err
    assert "clients.list" in err
    assert ADMIN_PW not in err


def test_a_closed_client_raises_a_protocol_error(connect: Connect, db_path: pathlib.Path) -> None:
    api = connect()
    api.close()
    with pytest.raises(vcsapi.VcsApiProtocolError):
        api.clients.list({})


def test_the_aliases_name_the_same_classes() -> None:
    assert vcsapi.ApiError is vcsapi.VcsApiError
    assert vcsapi.ApiProtocolError is vcsapi.VcsApiProtocolError
    e = vcsapi.VcsApiError(7, "seven")
    assert (e.code, e.message) == (7, "seven")


# --- api.file ------------------------------------------------------------------------------


def settled_calls(path: pathlib.Path) -> int:
    with tollgate.Engine.open(path) as e:
        client = rated_client(e, credit="1000")
        for call_id, duration in [("call-1", 61), ("call-2", 20)]:
            granted = e.authorize("100", "442071234567")
            e.settle(call_id, duration, reservation=granted.reservation)
    return client


def test_file_downloads_xdrs_and_renames_to_the_real_name(
    connect: Connect, db_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    settled_calls(db_path)
    out = tmp_path / "downloads"
    out.mkdir()
    api = connect()
    got = api.file("xdrs.download", {}, dir=str(out))
    assert set(got) == {"file", "name", "type"}
    assert got["type"] == "text/csv"
    assert got["name"] and got["name"].endswith(".csv")
    assert got["file"] == os.path.join(str(out), got["name"])
    with open(got["file"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["call_id"] for r in rows] == ["call-1", "call-2"]
    assert [Decimal(r["cost"]) for r in rows] == [Decimal("0.8083"), Decimal("0.55")]
    assert os.listdir(out) == [got["name"]]


def test_file_downloads_an_invoice_pdf_that_pdftotext_reads(
    connect: Connect, db_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with tollgate.Engine.open(db_path) as e:
        client = rated_client(e, credit="1000")
        e.call_as_system("companies.edit", {"id": 1, "name": "Pdf Operator Ltd", "address": "2 Quay Road"})
    api = connect()
    # A past month's call, imported (both sides run on the real clock).
    getattr(api.xdrs, "import")(
        {
            "format": "tollgate",
            "csv": "call_id,account,destination,connect_time,duration\njan-1,100,447700900123,2026-01-15 11:00:00,60\n",
        }
    )
    made = api.invoices.add({"id_clients": client, "dt_from": "2026-01-01", "dt_till": "2026-02-01"})
    number = made["number"]
    total = api.invoices.editForm({"id_invoices": made["id"]})["invoice"]["total"]
    out = tmp_path / "downloads"
    out.mkdir()
    got = api.file("invoices.download", {"id_invoices": made["id"]}, dir=str(out))
    assert got["type"] == "application/pdf"
    assert got["name"] == f"{number}.pdf"
    with open(got["file"], "rb") as f:
        assert f.read(5) == b"%PDF-"
    text = subprocess.run(
        ["pdftotext", "-layout", got["file"], "-"], check=True, capture_output=True, text=True
    ).stdout
    assert number in text and "Pdf Operator Ltd" in text and "2 Quay Road" in text
    total_line = next(line for line in text.splitlines() if line.strip().startswith("Total"))
    assert total_line.split()[-1] == str(total)
    assert Decimal(str(total)) > 0


def test_file_without_realname_keeps_the_temporary_name(
    connect: Connect, db_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    settled_calls(db_path)
    api = connect()
    got = api.file("xdrs.download", None, dir=tmp_path, realname=False)
    assert os.path.basename(got["file"]).startswith("vcsapi-")
    assert os.path.dirname(got["file"]) == str(tmp_path)
    assert pathlib.Path(got["file"]).read_text().startswith("id,call_id,")


def test_a_refused_file_raises_and_leaves_no_file(
    connect: Connect, db_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    settled_calls(db_path)
    out = tmp_path / "downloads"
    out.mkdir()
    api = connect(password="wrong-passw0rd")
    with pytest.raises(vcsapi.VcsApiError) as info:
        api.file("xdrs.download", {}, dir=out)
    assert info.value.code == tollgate.AuthFailedError.c_code
    assert info.value.message.startswith("/admin/xdrs/download: ")
    assert os.listdir(out) == []
    with pytest.raises(vcsapi.VcsApiError) as unknown:
        connect().file("xdrs.noSuchDownload", {}, dir=out)
    assert unknown.value.code == -32601
    assert os.listdir(out) == []


def test_vendor_fields_tollgate_does_not_act_on_are_named_in_messages(
    connect: Connect, db_path: pathlib.Path
) -> None:
    api = connect()
    r = api.clients.add({"name": "Vendor form", "low_balance_threshold": 5, "apply": 1})
    assert r.code is True, r.errors
    assert r.messages == ["ignored: low_balance_threshold (not supported)"]
    # Named once per call, and only in a call that succeeded.
    refused = api.clients.add({"low_balance_threshold": 5})
    assert refused.code is False
    assert refused.messages == []


def test_an_api_token_authenticates_calls_as_its_user(engine: tollgate.Engine) -> None:
    made = engine.call_envelope("users.tokenAdd", {"id_users": 1, "name": "py"}, as_system=True)
    token = made["return"]["token"]
    assert token.startswith("tg_admin_")
    env = engine.call_envelope("clients.list", {"AUTH": token})
    assert env["code"] is True, env["errors"]
    assert env["session_id"] is None
    engine.call_as_system("users.tokenRevoke", {"id": made["return"]["id"]})
    env = engine.call_envelope("clients.list", {"AUTH": token})
    assert env["code"] is False
    assert env["errors"][0]["code"] == "auth.token_invalid"
