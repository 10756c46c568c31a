"""Typed reads of backend data: JSON objects (Kubernetes, /health), SQL rows, Redis INFO.

`dict.get(key, "")` returns None when the key is present with a JSON null (or a SQL NULL): a
default only covers a missing key. Every read of backend data goes through these helpers, which
return the declared type whatever came back — a missing key, a null, or a value of another type
gives the default — so a parser never hands a `None` on as a `str` or an `int`.

Each helper takes the container as `object` so reads chain without checks:
`text(mapping(pod, "spec"), "nodeName")` is "" for a pod without spec, a spec without nodeName,
or `"nodeName": null`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

Json = Mapping[str, object]  # one JSON object as json.loads gives it (or a dict row)

_EMPTY: Json = {}


def as_mapping(value: object) -> Json:
    """`value` if it is a mapping with string keys, else an empty one."""
    if isinstance(value, Mapping):
        return cast(Json, value)  # keys are only ever looked up by str: any other key is unseen
    return _EMPTY


def is_object(value: object) -> bool:
    """Whether `value` is a JSON object (a mapping); unlike isinstance it narrows nothing, so a
    strict checker does not see a `Mapping[Unknown, Unknown]` afterwards."""
    return isinstance(value, Mapping)


def is_array(value: object) -> bool:
    """Whether `value` is a JSON array (a list, or a tuple row); narrows nothing, as `is_object`."""
    return isinstance(value, list | tuple)


def get(obj: object, key: str) -> object:
    """`obj[key]`, or None when `obj` is not a mapping or has no such key."""
    return as_mapping(obj).get(key)


def mapping(obj: object, *keys: str) -> Json:
    """The object at `obj[k1][k2]...`; empty when any step is missing, null or not an object."""
    current: object = obj
    for key in keys:
        current = get(current, key)
    return as_mapping(current)


def items(obj: object, key: str) -> list[Json]:
    """The objects of the list at `obj[key]` (non-objects in it are skipped); [] when absent."""
    return as_items(get(obj, key))


def as_items(value: object) -> list[Json]:
    """The objects of a list value; anything else is an empty list."""
    if isinstance(value, list | tuple):
        seq = cast(Sequence[object], value)
        return [as_mapping(v) for v in seq if is_object(v)]
    return []


def as_list(value: object) -> list[object]:
    """The elements of a list value (a JSON array, or a tuple); anything else is an empty list."""
    if isinstance(value, list | tuple):
        return list(cast(Sequence[object], value))  # whatever a list holds is an object
    return []


def as_text(value: object, default: str = "") -> str:
    """A string value; a number becomes its text; anything else (null, list, bool) the default."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return default


def text(obj: object, key: str, default: str = "") -> str:
    """`obj[key]` as a string (see `as_text`)."""
    return as_text(get(obj, key), default)


def optional_text(obj: object, key: str) -> str | None:
    """`obj[key]` as a string, None when absent or null (or not text)."""
    value = get(obj, key)
    return (
        as_text(value)
        if isinstance(value, str | int | float) and not isinstance(value, bool)
        else None
    )


def as_optional_integer(value: object) -> int | None:
    """An integer from an int, an integral float or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                parsed = float(value)
            except ValueError:
                return None
            return int(parsed) if math.isfinite(parsed) and parsed.is_integer() else None
    return None


def optional_integer(obj: object, key: str) -> int | None:
    """`obj[key]` as an int, None when absent, null or not an integer."""
    return as_optional_integer(get(obj, key))


def integer(obj: object, key: str, default: int = 0) -> int:
    """`obj[key]` as an int, `default` when absent, null or not an integer."""
    value = optional_integer(obj, key)
    return default if value is None else value


def as_optional_number(value: object) -> float | None:
    """A float from an int, a float or a numeric string (NaN and infinities kept); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def optional_number(obj: object, key: str) -> float | None:
    """`obj[key]` as a float, None when absent, null or not a number."""
    return as_optional_number(get(obj, key))


def number(obj: object, key: str, default: float = 0.0) -> float:
    """`obj[key]` as a float, `default` when absent, null or not a number."""
    value = optional_number(obj, key)
    return default if value is None else value


def boolean(obj: object, key: str, default: bool = False) -> bool:
    """`obj[key]` when it is a JSON boolean (or the strings "true"/"false"), else `default`."""
    value = get(obj, key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def integers(obj: object, key: str) -> tuple[int, ...]:
    """The integers of the list at `obj[key]` (a SQL int[] such as pg_blocking_pids)."""
    value = get(obj, key)
    if not isinstance(value, list | tuple):
        return ()
    seq = cast(Sequence[object], value)
    found = (as_optional_integer(v) for v in seq)
    return tuple(v for v in found if v is not None)


def optional_datetime(obj: object, key: str) -> datetime | None:
    """`obj[key]` when it is a datetime (a SQL timestamptz), else None."""
    value = get(obj, key)
    return value if isinstance(value, datetime) else None
