"""JSON as the simulator holds it: one alias for an object, and readers for what clients send.

The simulator builds its own objects (objects.py) in the API server's shapes, so inside it a
stored object's `metadata`, `spec` and `status` are known to be objects and are read by key. What
a client sends (request bodies, patches) is only known to be JSON: it goes through `as_object`
and `as_array` before it is read.
"""

from __future__ import annotations

from typing import Any, cast

JSON = dict[str, Any]
"""A JSON object (keys are always strings in JSON), as stored, served and received."""


def as_object(value: object) -> JSON | None:
    """`value` as a JSON object, or None when it is anything else (array, string, null...)."""
    return cast(JSON, value) if isinstance(value, dict) else None


def as_array(value: object) -> list[Any] | None:
    """`value` as a JSON array, or None when it is anything else."""
    return cast(list[Any], value) if isinstance(value, list) else None


def objects_in(value: object) -> list[JSON]:
    """The JSON objects in an array (other elements skipped); [] when `value` is no array."""
    return [item for item in map(as_object, as_array(value) or []) if item is not None]


def member(obj: JSON, key: str) -> JSON:
    """`obj[key]` when it is an object (that dict, not a copy); {} if missing, null or else."""
    value = obj.get(key)
    return cast(JSON, value) if isinstance(value, dict) else {}


def members(obj: JSON, key: str) -> list[JSON]:
    """The objects in the array `obj[key]`; [] when it is missing, null or not an array."""
    return objects_in(obj.get(key))


def first(obj: JSON, key: str) -> JSON:
    """The first object in the array `obj[key]` (ownerReferences, containerStatuses), or {}."""
    found = members(obj, key)
    return found[0] if found else {}


def text(obj: JSON, key: str, default: str = "") -> str:
    """`obj[key]` when it is a string, else `default` (a JSON null is not a string)."""
    value = obj.get(key)
    return value if isinstance(value, str) else default
