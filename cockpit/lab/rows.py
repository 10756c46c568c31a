"""One helper for the lab's SQL: the row of a statement that always answers exactly one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


def one_row(cursor: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The row of `SHOW ...`, `SELECT count(*) ...` and the like; raises if there is none."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("the statement answered no row")
    return row
