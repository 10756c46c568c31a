"""Label and field selectors as the API server parses them (the subset the cockpit and kubectl use).

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-joined.
Field selectors: dotted paths into the object (`involvedObject.name=x`, `status.phase!=Running`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from cockpit.lab.kubesim.jsontypes import JSON, as_object, member

_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    """A selector the simulator cannot parse (the API server answers 400)."""


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


@lru_cache(maxsize=256)
def parse_label_selector(selector: str) -> tuple[tuple[str, str, frozenset[str]], ...]:
    """Parse into (key, operator, values) requirements; operators: in, notin, exists, !exists."""
    requirements: list[tuple[str, str, frozenset[str]]] = []
    for term in _split_terms(selector):
        set_match = _SET_TERM.match(term)
        if set_match:
            key, op, values = set_match.groups()
            requirements.append((key, op, frozenset(v.strip() for v in values.split(","))))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            requirements.append((key.strip(), "notin", frozenset([value.strip()])))
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            requirements.append((key.strip(), "in", frozenset([value.strip()])))
        elif term.startswith("!"):
            requirements.append((term[1:].strip(), "!exists", frozenset()))
        elif re.fullmatch(r"[\w./-]+", term):
            requirements.append((term, "exists", frozenset()))
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")
    return tuple(requirements)


def matches_labels(obj: JSON, selector: str) -> bool:
    """Whether the object's metadata.labels satisfy the selector ("" matches everything)."""
    if not selector:
        return True
    labels = member(member(obj, "metadata"), "labels")
    for key, op, values in parse_label_selector(selector):
        present = key in labels
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


@lru_cache(maxsize=256)
def parse_field_selector(selector: str) -> tuple[tuple[tuple[str, ...], bool, str], ...]:
    """Parse into (path, equal, value) requirements."""
    requirements: list[tuple[tuple[str, ...], bool, str]] = []
    for term in _split_terms(selector):
        if "!=" in term:
            path, value = term.split("!=", 1)
            equal = False
        elif "=" in term:
            path, value = term.replace("==", "=").split("=", 1)
            equal = True
        else:
            raise SelectorError(f"invalid field selector: {term!r}")
        requirements.append((tuple(path.strip().split(".")), equal, value.strip()))
    return tuple(requirements)


def _field(obj: JSON, path: tuple[str, ...]) -> str:
    value: object = obj
    for part in path:
        parent = as_object(value)
        if parent is None:
            return ""
        value = parent.get(part, "")
    return "" if value is None else str(value)


def matches_fields(obj: JSON, selector: str) -> bool:
    """Whether the object satisfies a field selector ("" matches everything)."""
    if not selector:
        return True
    return all(
        (_field(obj, path) == value) == equal
        for path, equal, value in parse_field_selector(selector)
    )
