"""The log lines an incident's diagnosis points at, fetched when its detail opens.

What to fetch comes from the runbook entry's `logs` table (runbook.LogEvidenceSpec): for OOM the
previous container's last lines, for rate limits the count per minute of `rate limit exceeded`
over the last ten minutes, for high CPU the lines matching `loop`, for a full disk `No space left
on device`. One plain GET per pod (no follow), through the same RawApi as the log view. The
result is recorded in the audit trail (`incident.log_evidence`) so the post-mortem, rebuilt from
the trail alone, includes it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from cockpit.incidents.model import Incident
from cockpit.incidents.runbook import LogEvidenceSpec
from cockpit.sources.kube.logs import log_path, status_message
from cockpit.sources.kube.logtext import items, obj, sanitize, split_timestamp, text_of

EVENT = "incident.log_evidence"
MAX_PODS = 20


@dataclass(frozen=True)
class LogEvidence:
    """What the logs say about one incident."""

    rule: str
    summary: str  # "412 lines match 'rate limit exceeded' in the last 10 min (3 pods)"
    lines: tuple[str, ...] = ()  # "pod time text", the last `lines` ones
    per_minute: tuple[tuple[str, int], ...] = ()  # ("10:42", 37), oldest first
    problems: tuple[str, ...] = ()  # per pod: why its log could not be read

    def as_fields(self) -> dict[str, Any]:
        """The audit entry's fields."""
        return {
            "rule": self.rule,
            "summary": self.summary,
            "lines": list(self.lines),
            "per_minute": [list(p) for p in self.per_minute],
            "problems": list(self.problems),
        }


def _pods_of(incident: Incident, spec: LogEvidenceSpec) -> list[str]:
    names: list[str] = []
    for key in spec.pods_from:
        value: object = incident.evidence.get(key)
        for item in items(value) or [value]:  # a list (or tuple) of "pod ..." texts, or one
            name = item.split(" ")[0] if isinstance(item, str) else ""
            if name and name not in names:
                names.append(name)
    return names


def _selector_pods(raw: Any, namespace: str, selector: str, timeout: float) -> list[str]:
    doc: dict[str, Any] = raw.get_json(
        f"/api/v1/namespaces/{quote(namespace, safe='')}/pods",
        [("labelSelector", selector)],
        timeout=timeout,
    )
    return sorted(text_of(obj(obj(p).get("metadata")).get("name")) for p in items(doc.get("items")))


def _read(
    raw: Any, namespace: str, pod: str, spec: LogEvidenceSpec, timeout: float
) -> list[tuple[int, str]]:
    query: list[tuple[str, Any]] = [("timestamps", "true")]
    if spec.previous:
        query += [("previous", "true"), ("tailLines", str(spec.lines))]
    else:
        query.append(("sinceSeconds", str(spec.since_minutes * 60)))
    resp = raw.request("GET", log_path(namespace, pod), query, timeout=timeout)
    try:
        data: bytes = resp.data
    finally:
        resp.release_conn()
    out: list[tuple[int, str]] = []
    for line in data.split(b"\n"):
        if line:
            stamp, text = split_timestamp(line)
            out.append((stamp or 0, text))
    return out


def fetch_log_evidence(
    raw: Any,
    namespace: str,
    selector: str,
    incident: Incident,
    spec: LogEvidenceSpec,
    now: datetime,
    timeout: float = 5.0,
) -> LogEvidence:
    """Read the logs the spec names and summarise them (blocking: run it in a thread)."""
    try:
        pods = _pods_of(incident, spec) or _selector_pods(raw, namespace, selector, timeout)
    except Exception as exc:  # the evidence says why it is missing
        return LogEvidence(incident.rule, f"logs not read: {status_message(exc)[1]}")
    pattern = re.compile(spec.pattern, re.IGNORECASE) if spec.pattern else None
    found: list[tuple[int, str, str]] = []
    problems: list[str] = []
    for pod in pods[:MAX_PODS]:
        try:
            lines = _read(raw, namespace, pod, spec, timeout)
        except Exception as exc:  # one pod's answer does not stop the others
            problems.append(f"{pod}: {status_message(exc)[1]}")
            continue
        found += [
            (stamp, pod, text) for stamp, text in lines if pattern is None or pattern.search(text)
        ]
    found.sort()
    where = f"{len(pods[:MAX_PODS])} pod{'s' if len(pods) != 1 else ''}"
    shown = tuple(f"{p} {_hms(t)} {text}" for t, p, text in found[-spec.lines :])
    if spec.previous:
        summary = f"previous container, last {spec.lines} lines ({where})"
        return LogEvidence(incident.rule, summary, shown, (), tuple(problems))
    what = f"'{spec.pattern}'" if spec.pattern else "any text"
    summary = f"{len(found)} lines match {what} in the last {spec.since_minutes} min ({where})"
    if not spec.per_minute:
        return LogEvidence(incident.rule, summary, shown, (), tuple(problems))
    return LogEvidence(
        incident.rule, summary, (), per_minute(found, now, spec.since_minutes), tuple(problems)
    )


def per_minute(
    found: list[tuple[int, str, str]], now: datetime, minutes: int
) -> tuple[tuple[str, int], ...]:
    """Matches counted per minute over the last `minutes` minutes, zeros included."""
    end = int(now.timestamp()) // 60
    counts = Counter(stamp // 60_000_000_000 for stamp, _, _ in found)
    return tuple(
        (datetime.fromtimestamp(m * 60, UTC).strftime("%H:%M"), counts.get(m, 0))
        for m in range(end - minutes + 1, end + 1)
    )


def _hms(stamp: int) -> str:
    return datetime.fromtimestamp(stamp / 1e9, UTC).strftime("%H:%M:%S") if stamp else "--:--:--"


def evidence_text(entry: Mapping[str, Any]) -> list[str]:
    """Plain lines for the detail and the post-mortem, from an evidence (or its audit entry);
    log text escaped, so nothing a pod printed acts on a terminal or a document."""
    out = [sanitize(text_of(entry.get("summary")))]
    per = [items(p) for p in items(entry.get("per_minute"))]  # [minute, count] pairs
    pairs = [(str(p[0]), str(p[1])) for p in per if len(p) == 2]
    if pairs:
        out.append("per minute: " + "  ".join(f"{sanitize(m)} {sanitize(c)}" for m, c in pairs))
    out += [sanitize(str(line)) for line in items(entry.get("lines"))]
    out += ["not read: " + sanitize(str(p)) for p in items(entry.get("problems"))]
    return out


__all__ = ["EVENT", "LogEvidence", "evidence_text", "fetch_log_evidence", "per_minute"]
