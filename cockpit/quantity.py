"""Kubernetes resource quantities ("512Mi", "1.5Gi", "500m", "2") read and written without the
client library, so the config check and the lab can use them too.

`parse_quantity` follows the API's grammar for the suffixes in use (binary Ki…Ei, decimal k…E,
milli m, and plain numbers); an exponent form ("1e3") is refused with the reason. `memory_text`
writes bytes the way operators write limits: the largest binary unit that divides it exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_SHAPE = re.compile(r"^\+?(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
MEMORY_STEPS_MI = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class QuantityError(ValueError):
    """Text that is not a Kubernetes quantity, with what would be."""


def parse_quantity(text: str) -> Decimal:
    """The quantity's value in base units (bytes, or cores): '512Mi' -> 536870912, '500m' -> 0.5."""
    match = _SHAPE.match(text.strip())
    if match is None:
        raise QuantityError(
            f"{text!r} is not a Kubernetes quantity (write it as 512Mi, 1Gi, 1.5Gi, 500m or 2)"
        )
    try:
        number = Decimal(match[1])
    except InvalidOperation:  # the pattern admits only digits and one dot; belt and braces
        raise QuantityError(f"{text!r} is not a number with a unit") from None
    suffix = match[2] or ""
    if suffix == "m":
        return number / 1000
    return number * (_BINARY.get(suffix) or _DECIMAL.get(suffix) or 1)


def memory_bytes(text: str) -> int:
    """A memory quantity in whole bytes ('1Gi' -> 1073741824); QuantityError when it is not one."""
    value = parse_quantity(text)
    if value < 1:
        raise QuantityError(f"{text!r} is less than a byte: memory is written as 512Mi or 1Gi")
    return int(value)


def cpu_millicores(text: str) -> int:
    """A CPU quantity in millicores ('500m' -> 500, '2' -> 2000)."""
    return int(parse_quantity(text) * 1000)


def memory_text(n: int) -> str:
    """Bytes as a limit is written: 1073741824 -> '1Gi', 1610612736 -> '1536Mi'."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def cpu_text(millicores: int) -> str:
    """Millicores as a limit is written: 2000 -> '2', 1500 -> '1500m'."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def human_bytes(n: float) -> str:
    """A size for reading, not for a spec: '28.1Gi', '512Mi'."""
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if abs(n) >= unit:
            value = n / unit
            return f"{value:.0f}{suffix}" if value == int(value) else f"{value:.1f}{suffix}"
    return f"{n:.0f}B"


def next_memory_step(current: int, cap: int) -> int | None:
    """The next step up from `current` bytes on the ladder 64Mi, 128Mi … 64Gi (doubling), not
    above `cap`; None when the current limit is already at or above the cap."""
    for step in (mi * 2**20 for mi in MEMORY_STEPS_MI):
        if step > current:
            return min(step, cap) if min(step, cap) > current else None
    return cap if cap > current else None
