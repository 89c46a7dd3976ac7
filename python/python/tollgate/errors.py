"""Exceptions: one class per engine error code, generated from core's error table.

``core/src/error.rs`` is the one table of error codes: each has a stable machine code
(``validation.required``), a C result number and a Python class name. This module builds
``TollgateError`` and one subclass per code from that table at import, so the Python tree can
never drift from the engine. ``errors.pyi`` lists the same classes for type checkers; a test
fails when it is stale (regenerate with ``python python/tools/gen_error_stubs.py``).
"""

from __future__ import annotations

from typing import Any

from tollgate import _native


class TollgateError(Exception):
    """Base of every error the engine reports.

    ``code`` is the stable machine code (``"not_found"``), ``c_code`` the number the C API
    uses for it, ``field`` the argument the error is about (if any) and ``errors`` every
    ``{code, message, field?}`` entry of the refusal.
    """

    code: str = "internal"
    c_code: int = 9000

    def __init__(
        self,
        message: str,
        code: str | None = None,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.errors: list[dict[str, Any]] = list(errors) if errors is not None else []

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.code, self.field, self.errors))


_BY_CODE: dict[str, type[TollgateError]] = {}


def _build() -> list[str]:
    names = []
    for code, c_code, name in _native.error_table():
        cls = type(
            name,
            (TollgateError,),
            {
                "__doc__": f"Error code ``{code}`` (C result {c_code}).",
                "__module__": __name__,
                "code": code,
                "c_code": c_code,
            },
        )
        globals()[name] = cls
        _BY_CODE[code] = cls
        names.append(name)
    return names


def error_class(code: str) -> type[TollgateError]:
    """The exception class of a machine code; ``TollgateError`` for an unknown one."""
    return _BY_CODE.get(code, TollgateError)


__all__ = ["TollgateError", "error_class", *_build()]
