"""One measured figure: what it is, the value, the target and whether it is met."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """A benchmark result row. `ok` is None for figures that are reported without a target."""

    name: str
    measured: float | None
    unit: str
    target: float | None = None
    # "max": measured must be <= target; "min": >= target; "eq": == target
    kind: str = "max"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool | None:
        """Whether the target is met (None without a target or a measurement)."""
        if self.target is None:
            return None
        if self.measured is None:
            return False
        if self.kind == "min":
            return self.measured >= self.target
        if self.kind == "eq":
            return self.measured == self.target
        return self.measured <= self.target

    def as_json(self) -> dict[str, Any]:
        """For bench/results/latest.json."""
        return {**asdict(self), "ok": self.ok}


def fmt(value: float | None, unit: str) -> str:
    """A short human rendering of a value."""
    if value is None:
        return "n/a"
    if unit in ("s", "ms", "%", "MB", "B", "x", "req", "calls", "/refresh", "ms/refresh", "/s"):
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return f"{text} {unit}"
    return f"{value:g} {unit}"
