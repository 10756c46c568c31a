"""The runbook's severity levels, and the operator steps that change an incident: the one home
of these names for the rules, the engine, the messages and the screens."""

from __future__ import annotations

SEVERITIES = ("P1", "P2", "P3", "P4")  # P1 critical ... P4 low, as the runbook ranks them

# the operator steps that write (the engine records each in the audit trail): refused, and
# their keys hidden, in read-only mode
WRITE_STEPS = frozenset({"declare", "acknowledge", "status", "severity", "note"})


def severity_rank(severity: str) -> int:
    """0 for P1 (worst) .. 3 for P4; unknown severities sort last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
