"""tollgate: the Pythonic engine API."""

from __future__ import annotations

import datetime
import io
import pathlib
import pickle
from decimal import Decimal

import pytest
from support import ADMIN, ADMIN_PW, balance, rated_client

import tollgate
from tollgate import _native

# --- lifecycle -----------------------------------------------------------------------------


def test_create_open_and_context_manager_close(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "billing.db"
    with tollgate.Engine.create(path, ADMIN, ADMIN_PW) as e:
        cid = e.call_as_system("clients.add", {"name": "Kept"})["id"]
        assert not e.closed
        assert e.path == str(path)
    assert e.closed
    with pytest.raises(ValueError, match="closed"):
        e.call_as_system("clients.list")
    e.close()  # closing twice is a no-op
    # Closed means released: the file opens again and kept the data.
    with tollgate.Engine.open(str(path)) as again:
        assert again.call_as_system("clients.editForm", {"id": cid})["client"]["name"] == "Kept"


def test_settings_status_and_a_hold_that_survives_a_reopen(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "held.db"
    with tollgate.Engine.create(path, ADMIN, ADMIN_PW, quota_seconds=60) as e:
        assert e.status()["settings"]["quota_seconds"] == 60
        assert e.status()["settings"]["clock_interval_ms"] is None
        client = rated_client(e, credit="10")
        a = e.authorize("100", "442071234567")
        assert a.granted_seconds == 60
        held = e.status()["held_total"]["USD"]
        assert Decimal(held) == a.held
    with pytest.raises(tollgate.InvalidError, match="quota_seconds"):
        tollgate.Engine.open(path, quota_seconds=0)
    with pytest.raises(OverflowError):
        tollgate.Engine.open(path, max_call_seconds=-1)
    # The call was up when the engine closed: the reopened engine holds it again, and its
    # own clock runs.
    with tollgate.Engine.open(path, clock_interval_ms=20) as e:
        s = e.status()
        assert s["open_reservations"] == 1
        assert Decimal(s["held_total"]["USD"]) == a.held
        assert s["settings"]["clock_interval_ms"] == 20
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=10)
        while e.status()["last_tick"] is None:
            assert datetime.datetime.now() < deadline, "the clock never ticked"
        done = e.settle("after-reopen", 30, reservation=a.reservation)
        assert done.client == client and not done.unreserved
        assert e.status()["open_reservations"] == 0


def test_a_second_open_of_a_file_in_use_is_refused(db_path: pathlib.Path) -> None:
    with tollgate.Engine.open(db_path):
        with pytest.raises(tollgate.DatabaseInUseError) as info:
            tollgate.Engine.open(db_path)
    assert info.value.code == "store.in_use"


def test_an_engine_dropped_without_close_releases_the_file(db_path: pathlib.Path) -> None:
    e = tollgate.Engine.open(db_path)
    e.call_as_system("clients.add", {"name": "Dropped"})
    del e
    with tollgate.Engine.open(db_path) as again:
        assert again.call_as_system("clients.list")["total"] == 1


def test_open_errors_are_specific(tmp_path: pathlib.Path) -> None:
    with pytest.raises(tollgate.DatabaseNotFoundError):
        tollgate.Engine.open(tmp_path / "absent.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(tollgate.NotTollgateDatabaseError):
        tollgate.Engine.open(junk)
    with pytest.raises(tollgate.DatabaseExistsError):
        tollgate.Engine.create(junk, ADMIN, ADMIN_PW)
    with pytest.raises(tollgate.TollgateError) as short:
        tollgate.Engine.create(tmp_path / "new.db", ADMIN, "short")
    assert short.value.field == "admin_password"
    assert not (tmp_path / "new.db").exists()


# --- calls ---------------------------------------------------------------------------------


def test_call_authenticates_from_params_and_raises_on_refusal(engine: tollgate.Engine) -> None:
    sid = engine.login(ADMIN, ADMIN_PW)
    assert sid.startswith("1-") and len(sid) == 28
    cid = engine.call("clients.add", {"SID": sid, "name": "A"})["id"]
    assert engine.call("clients.editForm", {"SID": sid, "id_clients": cid})["client"]["name"] == "A"
    with pytest.raises(tollgate.AuthRequiredError):
        engine.call("clients.list", {})
    with pytest.raises(tollgate.NotFoundError) as info:
        engine.call("clients.editForm", {"SID": sid, "id_clients": 999})
    assert info.value.code == "not_found"
    assert info.value.c_code == 3000
    assert info.value.errors == [{"code": "not_found", "message": "client 999 not found"}]
    with pytest.raises(tollgate.RequiredError) as missing:
        engine.call("clients.add", {"SID": sid})
    assert missing.value.field == "name"
    with pytest.raises(tollgate.AuthFailedError):
        engine.login(ADMIN, "wrong-passw0rd")
    with pytest.raises(tollgate.UnknownMethodError):
        engine.call("clients.noSuchAction", {"SID": sid})


def test_call_envelope_returns_refusals_without_raising(engine: tollgate.Engine) -> None:
    env = engine.call_envelope("clients.editForm", {"id_clients": 5}, as_system=True)
    assert env["code"] is False
    assert env["return"] == []
    assert env["errors"][0]["code"] == "not_found"
    assert list(env) == ["code", "session_id", "messages", "return", "errors"]


def test_params_without_a_json_form_are_refused_and_change_nothing(
    engine: tollgate.Engine,
) -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    for bad in [
        {"name": "A", "notes": object()},
        {"name": "A", 7: "int key"},
        {"name": "A", "credit": float("inf")},
        {"name": "A", "credit": Decimal("NaN")},
        {"name": "A", "notes": deep},
    ]:
        with pytest.raises(tollgate.MalformedRequestError):
            engine.call_as_system("clients.add", bad)
    with pytest.raises(tollgate.MalformedRequestError, match="must be a dict"):
        engine.call_as_system("clients.list", [1, 2])  # type: ignore[arg-type]
    assert engine.call_as_system("clients.list")["total"] == 0


def test_tuples_big_ints_and_mappings_convert(engine: tollgate.Engine) -> None:
    from collections import OrderedDict

    got = engine.call_as_system("clients.add", OrderedDict(name="Ordered", credit=Decimal("1E+2")))
    client = engine.call_as_system("clients.editForm", {"id": got["id"]})["client"]
    assert client["credit"] == Decimal("100")
    with pytest.raises(tollgate.TollgateError):
        engine.call_as_system("clients.editForm", {"id": 2**80})


# --- money ---------------------------------------------------------------------------------


def test_decimal_point_one_charged_three_times_is_exact(engine: tollgate.Engine) -> None:
    cid = engine.call_as_system("clients.add", {"name": "Exact"})["id"]
    engine.call_as_system("transactions.add", {"id_clients": cid, "type": "payment", "amount": Decimal("1")})
    for _ in range(3):
        engine.call_as_system(
            "transactions.add", {"id_clients": cid, "type": "charge", "amount": Decimal("0.1")}
        )
    got = balance(engine, cid)
    assert isinstance(got, Decimal)
    assert got == Decimal("0.7")
    assert got == Decimal(1) - Decimal("0.1") * 3
    # A float goes through its repr: 0.1 is 0.1, not 0.1000000000000000055511151231257827.
    for _ in range(3):
        engine.call_as_system("transactions.add", {"id_clients": cid, "type": "charge", "amount": 0.1})
    assert balance(engine, cid) == Decimal("0.4")


def test_amounts_beyond_the_currency_precision_are_refused(engine: tollgate.Engine) -> None:
    cid = engine.call_as_system("clients.add", {"name": "Precise"})["id"]
    with pytest.raises(tollgate.MoneyPrecisionError):
        engine.call_as_system(
            "transactions.add",
            {"id_clients": cid, "type": "payment", "amount": Decimal("0.00001")},
        )
    assert balance(engine, cid) == Decimal("0")


# --- hot path ------------------------------------------------------------------------------


def test_authorize_settle_release_return_frozen_typed_results(engine: tollgate.Engine) -> None:
    cid = rated_client(engine, credit="0")
    engine.call_as_system("transactions.add", {"id_clients": cid, "type": "payment", "amount": Decimal("10")})
    a = engine.authorize("100", "442071234567")
    assert isinstance(a, tollgate.Authorization)
    assert (a.client, a.code, a.code_name) == (cid, "4420", "London")
    assert a.rate == Decimal("0.5") and isinstance(a.rate, Decimal)
    assert a.setup_fee == Decimal("0.3")
    assert a.max_seconds > 0 and a.held > 0
    assert a.expires_at.tzinfo is not None
    with pytest.raises(AttributeError):
        a.rate = Decimal("0")  # type: ignore[misc]
    s = engine.settle("call-1", 61, reservation=a.reservation)
    assert isinstance(s, tollgate.Settlement)
    assert (s.cost, s.balance, s.billed_seconds) == (Decimal("0.8083"), Decimal("9.1917"), 61)
    assert not s.replayed
    again = engine.settle("call-1", 61, reservation=a.reservation)
    assert again.replayed and again.cost == s.cost and again.xdr == s.xdr
    assert balance(engine, cid) == Decimal("9.1917")
    with pytest.raises(tollgate.IdempotencyConflictError):
        engine.settle("call-1", 99, reservation=a.reservation)
    b = engine.authorize("100", "4412345", time=datetime.datetime.now(datetime.timezone.utc))
    assert b.code == "44"
    assert engine.update(b.reservation).reservation == b.reservation
    engine.release(b.reservation)
    with pytest.raises(tollgate.ReservationNotFoundError):
        engine.release(b.reservation)
    assert balance(engine, cid) == Decimal("9.1917")
    assert "Authorization(reservation=" in repr(a)


def test_settle_many_charges_together_and_returns_each_calls_own_outcome(engine: tollgate.Engine) -> None:
    cid = rated_client(engine, credit="0")
    engine.call_as_system("transactions.add", {"id_clients": cid, "type": "payment", "amount": Decimal("10")})
    a = engine.authorize("100", "442071234567")
    out = engine.settle_many(
        [
            {"call_id": "many-1", "duration": 61, "reservation": a.reservation},
            {"call_id": "many-2", "duration": 5, "reservation": 987654321},
            {"call_id": "many-1", "duration": 61, "reservation": a.reservation},
        ]
    )
    assert len(out) == 3
    first, lost, again = out
    assert isinstance(first, tollgate.Settlement) and not first.replayed
    assert first.cost == Decimal("0.8083")
    # A refusal is returned, not raised: the others were charged.
    assert isinstance(lost, tollgate.ReservationNotFoundError)
    assert isinstance(again, tollgate.Settlement) and again.replayed and again.xdr == first.xdr
    assert balance(engine, cid) == Decimal("9.1917")
    assert engine.settle_many([]) == []
    # A malformed call is refused before anything is settled.
    b = engine.authorize("100", "442071234567")
    for bad, kind in [
        ({"duration": 1}, TypeError),
        ({"call_id": "x", "duration": -1}, TypeError),
        ({"call_id": "x", "duration": 1, "colour": "red"}, TypeError),
        ({"call_id": 7, "duration": 1}, TypeError),
    ]:
        with pytest.raises(kind, match=r"calls\[1\]"):
            engine.settle_many([{"call_id": "ok", "duration": 1, "reservation": b.reservation}, bad])  # type: ignore[list-item]
    assert engine.update(b.reservation).reservation == b.reservation
    assert balance(engine, cid) == Decimal("9.1917")
    with pytest.raises(tollgate.OutOfRangeError):
        engine.settle_many([{"call_id": f"c{i}", "duration": 1} for i in range(1001)])


def test_hot_path_refusals_raise_their_classes(engine: tollgate.Engine) -> None:
    rated_client(engine, credit="0")
    with pytest.raises(tollgate.BalanceInsufficientError):
        engine.authorize("100", "442071234567")
    with pytest.raises(tollgate.AccountNotFoundError):
        engine.authorize("999", "442071234567")
    with pytest.raises(tollgate.NoRateError):
        engine.authorize("100", "3312345")
    with pytest.raises(TypeError):
        engine.authorize("100", "44", time=datetime.datetime(2026, 1, 1))  # naive: refused


def test_tick_reports_counts(engine: tollgate.Engine) -> None:
    report = engine.tick()
    assert report["reservations_released"] == 0 and report["errors"] == []


# --- files and REST ------------------------------------------------------------------------


def test_call_file_writes_to_a_path_or_a_file_object(
    engine: tollgate.Engine, tmp_path: pathlib.Path
) -> None:
    rated_client(engine, credit="100")
    engine.settle("c-1", 30, reservation=engine.authorize("100", "441234").reservation)
    target = tmp_path / "xdrs.csv"
    info = engine.call_file("xdrs.download", {}, target, as_system=True)
    assert isinstance(info, tollgate.FileInfo)
    assert info.content_type == "text/csv" and info.name.endswith(".csv")
    text = target.read_text()
    assert text.startswith("id,call_id,") and ",c-1," in text
    buf = io.BytesIO()
    engine.call_file("xdrs.download", {"auth": {"login": ADMIN, "password": ADMIN_PW}}, buf)
    assert buf.getvalue().decode() == text
    refused = tmp_path / "refused.csv"
    with pytest.raises(tollgate.AuthFailedError):
        engine.call_file("xdrs.download", {"auth": {"login": ADMIN, "password": "nope-nope"}}, refused)
    assert not refused.exists()
    with pytest.raises(TypeError):
        engine.call_file("xdrs.download", {}, 42, as_system=True)


def test_rest_login_gives_a_bearer_token_for_call(engine: tollgate.Engine) -> None:
    status, body = engine.rest("Session", "login", {"params": {"login": ADMIN, "password": ADMIN_PW}})
    assert status == 200, body
    token = body["access_token"]
    assert engine.call("clients.list", {}, bearer=token)["total"] == 0
    status, fault = engine.rest("Session", "ping", {}, "not-a-token")
    assert status == 500 and "faultcode" in fault
    assert "BEGIN PUBLIC KEY" in engine.token_public_key_pem()
    assert engine.token_jwks()["keys"]


# --- exceptions ----------------------------------------------------------------------------


def test_every_core_error_code_has_its_class() -> None:
    table = _native.error_table()
    assert len(table) >= 40
    for code, c_code, name in table:
        cls = getattr(tollgate, name)
        assert cls is getattr(tollgate.errors, name)
        assert issubclass(cls, tollgate.TollgateError)
        assert (cls.code, cls.c_code) == (code, c_code)
        assert tollgate.error_class(code) is cls
    assert tollgate.error_class("no.such.code") is tollgate.TollgateError


def test_exceptions_pickle_with_their_details() -> None:
    e = tollgate.RequiredError("missing required argument 'name'", "validation.required", "name", [])
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is tollgate.RequiredError
    assert (back.message, back.code, back.field) == (e.message, e.code, "name")
