"""The Kubernetes label selector grammar, so a selector the API server would refuse is caught by
`cockpit check-config` instead of showing up as a 400 in the pods pane.

    selector     := requirement ( "," requirement )*      (empty: everything)
    requirement  := key ( "=" | "==" | "!=" ) value
                  | key ( "in" | "notin" ) "(" value ( "," value )* ")"
                  | key                                     (exists)
                  | "!" key                                 (does not exist)
    key          := [ prefix "/" ] name      prefix: a DNS subdomain, at most 253 characters
    name, value  := at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric (a value may
                    also be empty)

as `k8s.io/apimachinery/pkg/labels` parses it (its `>`/`<` integer comparisons are left out:
the cockpit's selectors name pods, they do not compare numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|[^\s!=(),]+)")
OPERATORS = ("=", "==", "!=", "in", "notin")


class SelectorError(ValueError):
    """A selector the API server would refuse; `str()` says what is wrong and where."""


@dataclass(frozen=True)
class Requirement:
    """One requirement: `op` is one of =, !=, in, notin, exists, !exists."""

    key: str
    op: str
    values: tuple[str, ...] = ()


def _check_key(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash:
        if (
            not prefix
            or len(prefix) > 253
            or not all(_DNS_LABEL.match(p) for p in prefix.split("."))
        ):
            raise SelectorError(f"{key!r}: the prefix before '/' must be a DNS subdomain")
    if not name or len(name) > 63 or not _NAME.match(name):
        raise SelectorError(
            f"{key!r}: a key is at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return key


def _check_value(value: str) -> str:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise SelectorError(
            f"{value!r}: a value is empty or at most 63 letters, digits, '-', "
            "'_' or '.', starting and ending with a letter or digit"
        )
    return value


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space character
            raise SelectorError(f"unexpected {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, what: str) -> str:
        token = self.peek()
        if token is None:
            raise SelectorError(f"expected {what}, found the end")
        self.pos += 1
        return token

    def word(self, what: str) -> str:
        token = self.take(what)
        if token in ("==", "!=", "=", "!", "(", ")", ","):
            raise SelectorError(f"expected {what}, found {token!r}")
        return token

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.pos += 1
            return Requirement(_check_key(self.word("a key after '!'")), "!exists")
        key = _check_key(self.word("a key"))
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        self.pos += 1
        if op in ("=", "==", "!="):
            following = self.peek()
            value = "" if following is None or following == "," else self.word("a value")
            return Requirement(key, "!=" if op == "!=" else "=", (_check_value(value),))
        if op in ("in", "notin"):
            if self.take("'('") != "(":
                raise SelectorError(f"expected '(' after {op!r}")
            values = [_check_value(self.word("a value"))]
            while (token := self.take("',' or ')'")) != ")":
                if token != ",":
                    raise SelectorError(f"expected ',' or ')', found {token!r}")
                values.append(_check_value(self.word("a value")))
            return Requirement(key, op, tuple(values))
        raise SelectorError(f"expected one of {', '.join(OPERATORS)} after {key!r}, found {op!r}")

    def selector(self) -> tuple[Requirement, ...]:
        if self.peek() is None:
            return ()
        found = [self.requirement()]
        while (token := self.peek()) is not None:
            if token != ",":
                raise SelectorError(f"expected ',' between requirements, found {token!r}")
            self.pos += 1
            found.append(self.requirement())
        return tuple(found)


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a label selector (empty: selects everything). Raises SelectorError."""
    return _Parser(text).selector()
