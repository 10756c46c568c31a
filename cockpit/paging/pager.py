"""The pager: watches the incidents (an IncidentWatch) and pages when nobody acknowledges.

`review()` runs on the engine's thread and only decides: a P1/P2 due (cockpit.paging.policy)
gets a trigger, an acknowledged or resolved incident that was paged gets an acknowledge or a
resolve for the same dedup_key. Each decision is a job for the pager's own thread, which runs
an asyncio loop with one httpx client: the UI never waits on a pager, however dead, slow or
lying it is. Jobs go out one at a time in order, so an acknowledge never overtakes its trigger.

Before a page goes out the `PageClaim` is asked whether this cockpit sends it (in team mode
exactly one does; alone, it always does). Only the cockpit that sent a trigger asks for its
acknowledge and resolve. Every page is an audit entry (`page.trigger`, `page.acknowledge`,
`page.resolve`, with the target and the result); what was sent is read back from the audit
trail at start, so a restarted cockpit neither pages twice nor forgets to resolve. Each outcome
is reported (a `PageReport`) for the operator: the app shows it in the incident's timeline and
a notification. A trigger that failed is not sent again by itself; the report says why.

The routing key is only ever put in PagerDuty's request body: reasons are redacted of it and
of the webhook URL, and neither is in an audit entry or a report.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from cockpit.applog import AppLog
from cockpit.audit.log import MASK, AuditLog
from cockpit.config import PagingConfig
from cockpit.incidents.model import Incident
from cockpit.models import utcnow
from cockpit.paging.claim import PAGE_EVENTS, LocalClaim, PageClaim, PageEvent
from cockpit.paging.delivery import Backoff, Delivery, Sleep, deliver
from cockpit.paging.events import TARGET_NAMES, pagerduty_body, webhook_body
from cockpit.paging.policy import page_due
from cockpit.paging.report import Outcome, PageReport, Target

AUDIT_EVENTS: Mapping[PageEvent, str] = {e: f"page.{e}" for e in PAGE_EVENTS}
_DONE_WORDS: Mapping[PageEvent, str] = {
    "trigger": "paged",
    "acknowledge": "acknowledged on",
    "resolve": "resolved on",
}


@dataclass(frozen=True)
class _Job:
    event: PageEvent
    incident: Incident
    source: str


def sent_pages(entries: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(incident id, target) -> the events the audit trail shows delivered (or, as target
    "elsewhere", triggers another cockpit claimed)."""
    sent: dict[tuple[str, str], set[str]] = {}
    events = {v: k for k, v in AUDIT_EVENTS.items()}
    for e in entries:
        event = events.get(str(e.get("event", "")))
        incident_id = str(e.get("incident_id") or "")
        if event is None or not incident_id:
            continue
        result = str(e.get("result", ""))
        if result == "sent":
            sent.setdefault((incident_id, str(e.get("target", ""))), set()).add(event)
        elif result == "elsewhere":
            sent.setdefault((incident_id, "elsewhere"), set()).add(event)
    return sent


class Pager:
    """Pages PagerDuty and/or a webhook for the incidents nobody acknowledges (see module)."""

    def __init__(
        self,
        cfg: PagingConfig,
        response_minutes: Callable[[str], int],
        *,
        audit: AuditLog | None,
        report: Callable[[PageReport], None],
        source: Callable[[], str],
        claim: PageClaim | None = None,
        clock: Callable[[], datetime] = utcnow,
        history: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        log: AppLog | None = None,
    ) -> None:
        self.cfg = cfg
        self.response_minutes = response_minutes
        self.audit = audit
        self.report = report
        self.source = source
        self.claim: PageClaim = claim or LocalClaim()  # read for every page: may be replaced
        self.clock = clock
        self.history = history
        self.backoff = backoff or Backoff()
        self.sleep: Sleep = sleep or asyncio.sleep
        self.transport = transport
        self.log = log
        self.targets: tuple[Target, ...] = (
            *(("pagerduty",) if cfg.routing_key else ()),
            *(("webhook",) if cfg.webhook_url else ()),
        )
        self._lock = threading.Lock()
        self._planned: dict[str, set[PageEvent]] = {}  # decided (queued or done) per incident
        self._sent: dict[tuple[str, str], set[str]] = {}  # delivered, per incident and target
        self._jobs: deque[_Job] = deque()
        self._busy = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._main: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # ------------------------------------------------------------------ the engine's side
    def review(
        self, active: Sequence[Incident], resolved: Sequence[Incident], now: datetime
    ) -> None:
        """Decide what is due (never blocks: the sending happens on the pager's thread; never
        raises: a failure is logged)."""
        try:
            self._review(active, resolved, now)
        except Exception as exc:
            self._log("deciding what to page", exc)

    def _review(
        self, active: Sequence[Incident], resolved: Sequence[Incident], now: datetime
    ) -> None:
        jobs: list[_Job] = []
        with self._lock:
            for inc in active:
                planned = self._planned.get(inc.id, set())
                if "trigger" not in planned:
                    minutes = self.response_minutes(inc.severity)
                    if page_due(inc, now, self.cfg.after_minutes, minutes):
                        jobs.append(self._plan(inc, "trigger"))
                elif inc.acknowledged_at is not None and "acknowledge" not in planned:
                    jobs.append(self._plan(inc, "acknowledge"))
            for inc in resolved:
                planned = self._planned.get(inc.id, set())
                if "trigger" in planned and "resolve" not in planned:
                    jobs.append(self._plan(inc, "resolve"))
            self._jobs.extend(jobs)
        if jobs:
            self._wake_up()

    def _plan(self, inc: Incident, event: PageEvent) -> _Job:
        self._planned.setdefault(inc.id, set()).add(event)
        return _Job(event, inc, self._source())

    def _source(self) -> str:
        try:
            return self.source() or "predictiq-cockpit"
        except Exception:  # the source is a courtesy: never let it stop a page
            return "predictiq-cockpit"

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being sent."""
        with self._lock:
            return not self._jobs and not self._busy

    # ------------------------------------------------------------------ the pager's thread
    def start(self) -> None:
        """Start the pager's thread (once); pages decided before are sent then."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="cockpit-pager", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def close(self, timeout: float = 3.0) -> None:
        """Stop sending (a page in flight is abandoned) and wait for the thread to end."""
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(main.cancel)
            except RuntimeError:  # the loop ended meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def _wake_up(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # closing
                pass

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # the thread must end quietly, the reason logged
            if not isinstance(exc, asyncio.CancelledError):
                self._log("the pager stopped", exc)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._main = asyncio.current_task()
        self._ready.set()
        await self._load_history()
        timeout = httpx.Timeout(self.cfg.timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, transport=self.transport) as client:
            while True:
                job = self._next_job()
                if job is None:
                    await self._wake.wait()
                    self._wake.clear()
                    continue
                try:
                    await self._send(client, job)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one page's failure never stops the next
                    self._log(f"paging {job.incident.id} ({job.event})", exc)
                finally:
                    with self._lock:
                        self._busy = False

    def _next_job(self) -> _Job | None:
        with self._lock:
            if not self._jobs:
                return None
            self._busy = True
            return self._jobs.popleft()

    async def _load_history(self) -> None:
        history = self.history
        if history is None:
            return
        try:
            sent = sent_pages(await asyncio.to_thread(lambda: list(history())))
        except Exception as exc:  # no history: at worst PagerDuty merges a repeated trigger
            self._log("reading the pages already sent from the audit trail", exc)
            return
        with self._lock:
            for (incident_id, target), events in sent.items():
                self._sent.setdefault((incident_id, target), set()).update(events)
                if target in self.targets or target == "elsewhere":
                    planned = self._planned.setdefault(incident_id, set())
                    planned.update(e for e in PAGE_EVENTS if e in events)

    # ------------------------------------------------------------------ one page
    def _targets_for(self, job: _Job) -> list[Target]:
        incident_id = job.incident.id
        with self._lock:
            done = {t: self._sent.get((incident_id, t), set()) for t in self.targets}
            elsewhere = self._sent.get((incident_id, "elsewhere"), set())
        if job.event == "trigger":
            if "trigger" in elsewhere:
                return []
            return [t for t in self.targets if "trigger" not in done[t]]
        # acknowledge / resolve: only where this cockpit's trigger was delivered
        return [t for t in self.targets if "trigger" in done[t] and job.event not in done[t]]

    async def _send(self, client: httpx.AsyncClient, job: _Job) -> None:
        targets = self._targets_for(job)
        if not targets:
            return
        note = ""
        try:
            mine = await asyncio.to_thread(self.claim.claim, job.incident.id, job.event)
        except Exception as exc:
            # Undecided (the team store unreachable): send. A second cockpit sending the same
            # event for the same dedup_key is merged by PagerDuty; nobody paged is worse.
            mine = True
            note = self.redact(f" (the claim failed: {type(exc).__name__}: {exc}; sent anyway)")
            self._log(f"claiming the {job.event} of {job.incident.id}", exc)
        if not mine:
            with self._lock:
                self._sent.setdefault((job.incident.id, "elsewhere"), set()).add(job.event)
            await self._outcome(job, targets[0], "elsewhere")
            return
        for target in targets:
            url, body = self._request(job, target)
            delivery = await deliver(
                client,
                url,
                body,
                max_attempts=self.cfg.max_attempts,
                timeout=self.cfg.timeout_seconds,
                backoff=self.backoff,
                sleep=self.sleep,
                redact=self.redact,
            )
            if delivery.delivered:
                with self._lock:
                    self._sent.setdefault((job.incident.id, target), set()).add(job.event)
                await self._outcome(job, target, "sent", delivery=delivery, reason=note.strip())
            else:
                reason = delivery.error + ("" if delivery.gave_up else " (not retried)") + note
                await self._outcome(job, target, "failed", delivery=delivery, reason=reason)

    def _request(self, job: _Job, target: Target) -> tuple[str, dict[str, Any]]:
        if target == "pagerduty":
            body = pagerduty_body(job.event, job.incident, self.cfg.routing_key, job.source)
            return self.cfg.events_url, body
        return self.cfg.webhook_url, webhook_body(job.event, job.incident, job.source, self.clock())

    def redact(self, text: str) -> str:
        """`text` without the routing key or the webhook URL (or its path)."""
        for secret in (self.cfg.routing_key, self.cfg.webhook_url):
            if secret:
                text = text.replace(secret, MASK)
        return text

    async def _outcome(
        self,
        job: _Job,
        target: Target,
        outcome: Outcome,
        *,
        delivery: Delivery | None = None,
        reason: str = "",
    ) -> None:
        """Audit the page, then tell the operator (an audit failure is told too)."""
        at = self.clock()
        audit_error = ""
        if self.audit is not None:
            fields: dict[str, Any] = {
                "incident_id": job.incident.id,
                "target": target,
                "result": outcome,
                "dedup_key": job.incident.id,
                "severity": job.incident.severity,
                "status": delivery.status if delivery else None,
                "attempts": delivery.attempts if delivery else 0,
                "reason": reason or None,
            }
            try:
                await asyncio.to_thread(self.audit.record, AUDIT_EVENTS[job.event], **fields)
            except Exception as exc:
                audit_error = f" — not in the audit trail: {exc}"
        name = TARGET_NAMES[target]
        clock = at.strftime("%H:%M:%S")
        if outcome == "sent":
            text = f"{_DONE_WORDS[job.event]} {name} {clock}" + (f" {reason}" if reason else "")
        elif outcome == "elsewhere":
            text = f"{job.event} sent by another cockpit {clock}"
        else:
            verb = "page" if job.event == "trigger" else job.event
            text = f"{verb} to {name} failed {clock}: {reason}"
        report = PageReport(job.incident.id, job.event, target, outcome, at, text + audit_error)
        try:
            self.report(report)
        except Exception as exc:  # the report is for the screen; the page itself went
            self._log("reporting a page", exc)

    def _log(self, what: str, exc: BaseException) -> None:
        if self.log is not None:
            try:
                self.log.exception(what, exc)
            except Exception:  # the log of last resort failing must not end the pager
                pass
