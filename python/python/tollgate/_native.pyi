"""Tollgate's native core (private: import ``tollgate`` or ``vcsapi``)."""

import datetime
import os
from decimal import Decimal
from types import TracebackType
from typing import Any, Callable, NotRequired, TypedDict, final

from .errors import TollgateError

__version__: str

def error_table() -> list[tuple[str, int, str]]: ...
def json_dumps(params: dict[str, Any] | None) -> str: ...
def json_loads(text: str) -> Any: ...

class _SettleCall(TypedDict):
    """One call of `Engine.settle_many`: `Engine.settle`'s keywords."""

    call_id: str
    duration: int
    reservation: NotRequired[int | None]
    account: NotRequired[str | None]
    auth_type: NotRequired[str | None]
    destination: NotRequired[str | None]
    source: NotRequired[str | None]
    connect_time: NotRequired[datetime.datetime | None]

@final
class Authorization:
    @property
    def reservation(self) -> int: ...
    @property
    def max_seconds(self) -> int: ...
    @property
    def granted_seconds(self) -> int: ...
    @property
    def account(self) -> int: ...
    @property
    def client(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def code_name(self) -> str: ...
    @property
    def rate(self) -> Decimal: ...
    @property
    def setup_fee(self) -> Decimal: ...
    @property
    def currency(self) -> int: ...
    @property
    def held(self) -> Decimal: ...
    @property
    def expires_at(self) -> datetime.datetime: ...

@final
class Settlement:
    @property
    def xdr(self) -> int: ...
    @property
    def call_id(self) -> str: ...
    @property
    def client(self) -> int: ...
    @property
    def duration(self) -> int: ...
    @property
    def billed_seconds(self) -> int: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def balance(self) -> Decimal: ...
    @property
    def unreserved(self) -> bool: ...
    @property
    def replayed(self) -> bool: ...

@final
class FileInfo:
    @property
    def name(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...

@final
class Engine:
    @staticmethod
    def create(
        path: str | os.PathLike[str],
        admin_login: str,
        admin_password: str,
        *,
        clock_interval_ms: int | None = None,
        quota_seconds: int | None = None,
        reservation_margin_seconds: int | None = None,
        max_call_seconds: int | None = None,
    ) -> Engine: ...
    @staticmethod
    def open(
        path: str | os.PathLike[str],
        *,
        clock_interval_ms: int | None = None,
        quota_seconds: int | None = None,
        reservation_margin_seconds: int | None = None,
        max_call_seconds: int | None = None,
    ) -> Engine: ...
    def status(self) -> dict[str, Any]: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Engine: ...
    def __exit__(
        self,
        _exc_type: type[BaseException] | None = None,
        _exc: BaseException | None = None,
        _tb: TracebackType | None = None,
    ) -> bool: ...
    def call(
        self, method: str, params: dict[str, Any] | None = None, *, bearer: str | None = None
    ) -> Any: ...
    def call_as_system(self, method: str, params: dict[str, Any] | None = None) -> Any: ...
    def call_envelope(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        as_system: bool = False,
        bearer: str | None = None,
    ) -> dict[str, Any]: ...
    def login(self, login: str, password: str) -> str: ...
    def authorize(
        self,
        account: str,
        destination: str,
        *,
        auth_type: str | None = None,
        source: str | None = None,
        time: datetime.datetime | None = None,
    ) -> Authorization: ...
    def update(self, reservation: int) -> Authorization: ...
    def settle(
        self,
        call_id: str,
        duration: int,
        *,
        reservation: int | None = None,
        account: str | None = None,
        auth_type: str | None = None,
        destination: str | None = None,
        source: str | None = None,
        connect_time: datetime.datetime | None = None,
    ) -> Settlement: ...
    def settle_many(self, calls: list[_SettleCall]) -> list[Settlement | TollgateError]: ...
    def release(self, reservation: int) -> None: ...
    def tick(self, now: datetime.datetime | None = None) -> dict[str, Any]: ...
    def rest(
        self,
        service: str,
        method: str,
        body: dict[str, Any] | None = None,
        bearer: str | None = None,
    ) -> tuple[int, Any]: ...
    def call_file(
        self,
        method: str,
        params: dict[str, Any] | None,
        dest: str | os.PathLike[str] | Any,
        *,
        as_system: bool = False,
    ) -> FileInfo: ...
    def token_public_key_pem(self) -> str: ...
    def token_jwks(self) -> dict[str, Any]: ...
    def on_event(
        self,
        callback: Callable[[dict[str, Any]], bool | str | dict[str, Any] | None],
        name: str = "python",
    ) -> None: ...
    def off_event(self, name: str = "python") -> bool: ...
    def deliver_events(self, now: datetime.datetime | None = None) -> dict[str, int]: ...
