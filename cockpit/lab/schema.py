"""The small PredictIQ schema (markets, bets) and its deterministic seed data.

The lab's PostgreSQL gets these tables so that the API simulator has something real to read and
the database pane has real rows, sizes and queries to show. Seeding is deterministic (a fixed
random seed) so tests can rely on the counts below.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from cockpit.lab.rows import one_row

SEED_MARKETS = 200
SEED_ACTIVE_MARKETS = 60
SEED_BETS = 3000
SEED_USERS = 500

# Statuses a market moves through; only 'active' markets are served hot and warmed into the cache.
MARKET_STATUSES = ("active", "suspended", "closed", "resolved")

_DDL = """
CREATE TABLE IF NOT EXISTS markets (
    id          bigint PRIMARY KEY,
    title       text NOT NULL,
    status      text NOT NULL CHECK (status IN ('active', 'suspended', 'closed', 'resolved')),
    odds        numeric(8, 3) NOT NULL,
    volume      numeric(14, 2) NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    closes_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS markets_status_idx ON markets (status);
CREATE TABLE IF NOT EXISTS bets (
    id          bigint PRIMARY KEY,
    market_id   bigint NOT NULL REFERENCES markets (id),
    user_id     bigint NOT NULL,
    amount      numeric(12, 2) NOT NULL CHECK (amount > 0),
    placed_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS bets_market_id_idx ON bets (market_id);
"""

# Any constant works; it only serialises concurrent installers on the same database.
_INSTALL_LOCK_KEY = 0x5052_4551  # "PREQ"

_TOPICS = (
    "BTC above 100k",
    "ETH flips BTC",
    "Rain in Lisbon",
    "Fed cuts rates",
    "Final goes to extra time",
    "New GPU launch slips",
    "Election turnout over 60%",
    "Marathon record falls",
    "Oil below 70",
    "Rocket lands first try",
)


@dataclass(frozen=True)
class SeedSummary:
    """Row counts present after `install_schema`, and whether this call inserted them."""

    markets: int
    active_markets: int
    bets: int
    seeded_now: bool


def install_schema(conn: psycopg.Connection, *, seed: int = 42) -> SeedSummary:
    """Create the markets/bets tables and seed them once; safe to call any number of times.

    Runs in one transaction under an advisory lock, so two labs racing on one database neither
    fail nor seed twice. Works on autocommit and non-autocommit connections alike.
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK_KEY,))
        cur.execute(_DDL)
        cur.execute("SELECT count(*) FROM markets")
        seeded_now = one_row(cur)[0] == 0
        if seeded_now:
            _seed(cur, random.Random(seed))
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'active'),"
            " (SELECT count(*) FROM bets) FROM markets"
        )
        markets, active, bets = one_row(cur)
    return SeedSummary(markets=markets, active_markets=active, bets=bets, seeded_now=seeded_now)


def _seed(cur: psycopg.Cursor, rng: random.Random) -> None:
    """Insert SEED_MARKETS markets (the first SEED_ACTIVE_MARKETS active) and SEED_BETS bets."""
    now = datetime.now(UTC).replace(microsecond=0)
    with cur.copy(
        "COPY markets (id, title, status, odds, volume, created_at, closes_at) FROM STDIN"
    ) as copy:
        for market_id in range(1, SEED_MARKETS + 1):
            if market_id <= SEED_ACTIVE_MARKETS:
                status = "active"
            else:
                status = rng.choice(MARKET_STATUSES[1:])
            created = now - timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 1439))
            copy.write_row(
                (
                    market_id,
                    f"{rng.choice(_TOPICS)} #{market_id}",
                    status,
                    round(rng.uniform(1.05, 12.0), 3),
                    round(rng.uniform(100, 250_000), 2),
                    created,
                    created + timedelta(days=rng.randint(7, 180)),
                )
            )
    with cur.copy("COPY bets (id, market_id, user_id, amount, placed_at) FROM STDIN") as copy:
        for bet_id in range(1, SEED_BETS + 1):
            copy.write_row(
                (
                    bet_id,
                    rng.randint(1, SEED_MARKETS),
                    rng.randint(1, SEED_USERS),
                    round(rng.uniform(1, 500), 2),
                    now - timedelta(minutes=rng.randint(0, 60 * 24 * 90)),
                )
            )
