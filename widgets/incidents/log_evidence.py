"""The incident detail's "Logs" section: fetched in a thread when the detail opens (the lines
the runbook entry's `logs` table names), shown once there, and recorded in the audit trail
(`incident.log_evidence`, not in read-only mode) for the post-mortem."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from rich.markup import escape
from textual.notifications import SeverityLevel

from cockpit.incidents.engine import IncidentEngine
from cockpit.incidents.log_evidence import EVENT, LogEvidence, evidence_text, fetch_log_evidence
from cockpit.incidents.model import Incident
from cockpit.models import utcnow
from cockpit.sources.kube.logs import Connect


class EvidenceHost(Protocol):
    """What the log evidence needs of the incident detail screen (named structurally: the
    detail imports this module, and the import contracts refuse a circle)."""

    log_evidence: LogEvidence | str | None  # None: nothing to show; str: reading, or why not
    engine: IncidentEngine

    @property
    def incident(self) -> Incident: ...

    def refresh_body(self) -> None: ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...


def start_log_evidence(
    screen: EvidenceHost, connect: Connect | None = None
) -> Coroutine[Any, Any, None] | None:
    """The work that fetches the incident's log evidence off the event loop (the screen runs
    it as a worker), or None when the runbook entry names no logs; `screen.log_evidence`
    holds the result.

    `connect` defaults to the configured Kubernetes context (sources.kube.logsession)."""
    screen.log_evidence = None
    cfg = screen.engine.cfg  # the screen's collaborators, not the app's attributes
    incident = screen.incident
    spec = incident.runbook.logs if incident.runbook else None
    if spec is None or cfg is None or cfg.kubernetes is None:
        return None
    screen.log_evidence = "reading the logs…"
    if connect is None:
        from cockpit.sources.kube.logsession import connect_from

        connect = connect_from(cfg.kubernetes)
    kube = cfg.kubernetes

    def fetch() -> LogEvidence:
        raw, namespace = connect()
        try:
            return fetch_log_evidence(
                raw,
                namespace,
                kube.selector,
                incident,
                spec,
                utcnow(),
                kube.request_timeout_seconds,
            )
        finally:
            client = getattr(raw, "api_client", None)
            if client is not None:
                client.close()

    def done(result: LogEvidence) -> None:
        screen.log_evidence = result
        audit = screen.engine.audit
        if audit is not None and not cfg.read_only:
            try:
                audit.record(EVENT, incident_id=incident.id, **result.as_fields())
            except Exception as exc:  # the section still shows; say it is not kept
                screen.notify(f"log evidence not recorded: {exc}", severity="warning")
        screen.refresh_body()

    async def run() -> None:
        import asyncio

        try:
            result = await asyncio.to_thread(fetch)
        except Exception as exc:  # a bad kubeconfig: the section says so
            screen.log_evidence = f"logs not read: {exc}"
            screen.refresh_body()
            return
        done(result)

    return run()


def log_evidence_section(screen: EvidenceHost) -> list[str]:
    """The section's markup lines (empty when the runbook entry names no logs)."""
    evidence = screen.log_evidence
    if evidence is None:
        return []
    if isinstance(evidence, str):
        return ["", "[b]Logs[/b]", f"  {escape(evidence)}"]
    lines = evidence_text(evidence.as_fields())
    return ["", "[b]Logs[/b]", *(f"  {escape(line)}" for line in lines)]
