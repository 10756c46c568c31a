"""Team mode at load (issue 16), run alone:

    .venv/bin/python bench/bench_team.py [--seconds 30] [--engines 10] [--rate 100]

Ten headless cockpits (an IncidentEngine, its own audit log and TeamLink each) on one team store
(a throwaway PostgreSQL 18 with the `cockpit` schema and the live role), writing `--rate`
entries per second in all (notes, and an acknowledgement every 0.25 s by a cockpit in turn).
Propagation of an acknowledgement = from just before its entry is written (the local fsync
included) to the moment each other cockpit drains it from its sync thread (drained every 5 ms).
Halfway through, the team PostgreSQL is restarted (stopped, 2 s down, started) while every
cockpit keeps writing; at the end every local entry must be in the store exactly once and
every cockpit must have received every other's entries exactly once.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from bench.figures import Figure, fmt
from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, KubernetesConfig, TeamConfig
from cockpit.incidents.engine import IncidentEngine
from cockpit.lab.pgserver import ThrowawayPostgres
from cockpit.team.link import TeamLink
from cockpit.team.schema import grant_statements, migrate

CFG = Config(kubernetes=KubernetesConfig(namespace="predictiq"))
ACK_EVERY = 0.25
CATCH_UP = 2.0  # after a restart, the backlogs go up and come down for this long


@dataclass
class Cockpit:
    name: str
    link: TeamLink
    engine: IncidentEngine
    received: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


def set_up_store(server: ThrowawayPostgres) -> str:
    """The schema and a live role; the live role's URL."""
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE cockpit_team")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier("cockpit_live")))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier("cockpit_wall")))
    owner = server.url.rsplit("/", 1)[0] + "/cockpit_team"
    with psycopg.connect(owner, autocommit=True) as conn:
        migrate(conn)
        for statement in grant_statements("cockpit_live", "cockpit_wall"):
            conn.execute(statement)
    return owner.replace("postgres@", "cockpit_live@")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    logging.getLogger("cockpit.team").setLevel(logging.ERROR)  # offline warnings: expected
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--engines", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="entries per second in all")
    parser.add_argument("--verbose", action="store_true", help="list the acks slower than 1 s")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-team-"))
    server = ThrowawayPostgres(max_connections=100).start()
    try:
        return run(server, set_up_store(server), tmp, args)
    finally:
        server.stop()  # from this thread too, in case the restart thread holds it
        server.cleanup()


def run(server: ThrowawayPostgres, url: str, tmp: Path, args: argparse.Namespace) -> int:
    team = TeamConfig(url=url, connect_timeout_seconds=2, statement_timeout_ms=2000)
    cockpits: list[Cockpit] = []
    for i in range(args.engines):
        audit = AuditLog(tmp / f"c{i}.jsonl")
        link = TeamLink(team, CFG, audit, operator=f"op{i}")
        engine = IncidentEngine(CFG, audit=audit, ids=link.ids)
        link.start(time.strftime("%Y%m%d", time.gmtime()))
        cockpits.append(Cockpit(f"c{i}", link, engine))
    deadline = time.monotonic() + 30
    while not all(c.link.status().online for c in cockpits):
        if time.monotonic() > deadline:
            print("not every cockpit came online", file=sys.stderr)
            return 1
        time.sleep(0.05)
    # each engine is driven by its writer thread and by the pump: one lock per engine
    locks = {c.name: threading.Lock() for c in cockpits}
    sent: dict[str, float] = {}  # ack marker -> monotonic time before its record
    arrived: dict[tuple[str, str], float] = {}  # (marker, receiver) -> monotonic arrival
    in_restart: set[str] = set()
    stop = threading.Event()
    restarting = threading.Event()
    finished = threading.Event()
    window: list[float] = []  # [store stopped, every cockpit back online + CATCH_UP]

    def pump() -> None:
        while not stop.is_set():
            for c in cockpits:
                got = c.link.sync.drain()
                if not got:
                    continue
                now = time.monotonic()
                c.received.extend(got)
                for e in got:
                    if e.get("event") == "incident.ack":
                        arrived.setdefault((str(e.get("acknowledged_by")), c.name), now)
                with locks[c.name]:
                    c.engine.apply_remote(got)
            stop.wait(0.005)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    incidents: list[str] = []
    for c in cockpits:
        with locks[c.name]:
            incidents.append(c.engine.declare(f"incident of {c.name}", "P2", operator=c.name).id)
    # every cockpit knows every incident before the load starts
    while not all({i.id for i in c.engine.active()} >= set(incidents) for c in cockpits):
        time.sleep(0.05)

    def restart() -> None:
        time.sleep(args.seconds / 2)
        restarting.set()
        window.append(time.monotonic())
        try:
            server.stop()
            time.sleep(2)
            server.start()
            while not all(c.link.status().online for c in cockpits):
                time.sleep(0.01)
            window.append(time.monotonic() + CATCH_UP)
        except BaseException as exc:
            print(f"restart failed: {exc!r}", file=sys.stderr)
            raise
        finally:
            restarting.clear()
        # the server dies with the thread that started it (PR_SET_PDEATHSIG): stay alive
        finished.wait()

    restarter = threading.Thread(target=restart, daemon=True)
    restarter.start()
    # one writer per cockpit (each is its own process in real life: its fsyncs its own),
    # rate / engines entries per second each; every ACK_EVERY s one of them acknowledges
    period = len(cockpits) / args.rate
    counter = itertools.count()
    ack_numbers = itertools.count()
    start = time.monotonic()
    next_ack = [start + ACK_EVERY * (i / len(cockpits)) for i in range(len(cockpits))]

    def writer(index: int, c: Cockpit) -> None:
        next_at = start + period * index / len(cockpits)
        n = 0
        while time.monotonic() - start < args.seconds:
            incident = incidents[n % len(incidents)]
            n += 1
            with locks[c.name]:
                if time.monotonic() >= next_ack[index]:
                    next_ack[index] += ACK_EVERY * len(cockpits)
                    marker = f"{c.name}-ack{next(ack_numbers)}"
                    sent[marker] = time.monotonic()
                    c.engine.acknowledge(incident, marker)
                else:
                    c.engine.add_note(incident, f"note {n}", operator=c.name)
            next(counter)
            next_at += period
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    threads = [
        threading.Thread(target=writer, args=(i, c), daemon=True) for i, c in enumerate(cockpits)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = next(counter)
    elapsed = time.monotonic() - start
    while restarting.is_set() or not server.running:
        time.sleep(0.05)
    # catch-up after the load: every cockpit receives every other's entries
    local = {c.name: read_entries(c.link.sync.audit.path) for c in cockpits}
    total = sum(len(v) for v in local.values())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(len(c.received) >= total - len(local[c.name]) for c in cockpits):
            break
        time.sleep(0.1)
    stop.set()
    pumper.join()

    lost = duplicated = 0
    for c in cockpits:
        expected = {
            (e["session"], e["seq"])
            for other in cockpits
            if other is not c
            for e in local[other.name]
        }
        got = [(e.get("session"), e.get("seq")) for e in c.received]
        lost += len(expected - set(got))
        duplicated += len(got) - len(set(got))
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (session, seq)) FROM cockpit.entries"
        ).fetchone()
    stored, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
    store_lost = total - distinct

    lo, hi = (window + [float("inf"), float("inf")])[:2]
    in_restart.update(m for m, t0 in sent.items() if lo <= t0 <= hi)
    slow = sorted(
        (round(sent[m] - start, 2), m, c.name, round(arrived[(m, c.name)] - sent[m], 2))
        for m in sent
        for c in cockpits
        if not m.startswith(c.name + "-")
        and (m, c.name) in arrived
        and arrived[(m, c.name)] - sent[m] > 1.0
    )
    steady = [
        arrived[(m, c.name)] - t0
        for m, t0 in sent.items()
        if m not in in_restart
        for c in cockpits
        if not m.startswith(c.name + "-") and (m, c.name) in arrived
    ]
    during = [
        arrived[(m, c.name)] - t0
        for m in in_restart
        for t0 in (sent[m],)
        for c in cockpits
        if not m.startswith(c.name + "-") and (m, c.name) in arrived
    ]
    if args.verbose:
        print("restart window (s from start):", [round(t - start, 2) for t in window])
        for row in slow:
            print("slow ack (sent at s, marker, receiver, latency s):", row, row[1] in in_restart)
    for c in cockpits:
        c.link.stop()
    finished.set()
    figures = [
        Figure(
            "entries written per second (all cockpits)",
            written / elapsed,
            "/s",
            extra={"written": written, "seconds": elapsed, "rate": args.rate},
        ),
        Figure("ack propagation p50", pct(steady, 0.5), "s"),
        Figure(
            "ack propagation p99 (outside the restart and its catch-up)",
            pct(steady, 0.99),
            "s",
            1.0,
        ),
        Figure(
            "ack propagation max (outside the restart and its catch-up)",
            max(steady, default=None),
            "s",
        ),
        Figure(
            "ack propagation p99 (acks written during the restart)", pct(during, 0.99), "s"
        ),  # fmt: skip
        Figure("entries lost across the restart (store)", store_lost, "entries", 0, "eq"),
        Figure("entries stored twice", stored - distinct, "entries", 0, "eq"),
        Figure("entries not received by a cockpit", lost, "entries", 0, "eq"),
        Figure("entries received twice", duplicated, "entries", 0, "eq"),
    ]
    print(f"{args.engines} cockpits, {written} local entries ({total} in the logs), "
          f"{len(sent)} acks ({len(in_restart)} during the restart)")  # fmt: skip
    for f in figures:
        ok = "" if f.ok is None else ("ok" if f.ok else "MISSED")
        target = "" if f.target is None else fmt(f.target, f.unit)
        print(f"{f.name:<62} {fmt(f.measured, f.unit):>14} {target:>10} {ok}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "team.json").write_text(
        json.dumps(
            {
                "figures": [f.as_json() for f in figures],
                "acks": len(sent),
                "median_steady": statistics.median(steady) if steady else None,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
