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
from psycopg import sql

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


def install_statements_extension(conn: psycopg.Connection) -> bool:
    """CREATE EXTENSION pg_stat_statements in the connected database (the application's: the
    extension is per database, and the cockpit watches this one), when the server preloads the
    library. Needs a superuser connection. Returns whether the view is usable."""
    preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    if preload is None or "pg_stat_statements" not in str(preload[0]):
        return False
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    # the lab's own setup (COPY of the seed, CREATE EXTENSION) is not what an operator looks for
    conn.execute(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
        " WHERE datname = current_database()), 0)"
    )
    return True


# The slow-query drill's report: a real query that reads a table of REPORT_ROWS rows through a
# sequential scan (no index on market_id), so that EXPLAIN finds it and Create index fixes it.
REPORT_TABLE = "market_report_events"
REPORT_ROWS = 200_000
REPORT_QUERY = (
    f"SELECT count(*), sum(amount) FROM {REPORT_TABLE} WHERE market_id = %s"
    " /* nightly market report */"
)


def install_report_table(conn: psycopg.Connection, reader: str) -> None:
    """Create and fill the report's table once (under the install lock, so concurrent drills
    neither fail nor fill it twice), readable by `reader`. A superuser connection: the filling
    is kept out of pg_stat_statements, where it would top the list the drill is about."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK_KEY,))
        cur.execute("SET LOCAL pg_stat_statements.track = 'none'")
        cur.execute("SELECT to_regclass(%s)", (REPORT_TABLE,))
        row = cur.fetchone()
        if row is not None and row[0] is not None:
            return
        cur.execute(
            f"CREATE TABLE {REPORT_TABLE} (id bigint PRIMARY KEY, market_id bigint NOT NULL,"
            " amount numeric(12, 2) NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute(
            f"INSERT INTO {REPORT_TABLE} (id, market_id, amount) SELECT g, g %% %s + 1,"
            " (g %% 97) + 1 FROM generate_series(1, %s) g",
            (SEED_MARKETS, REPORT_ROWS),
        )
        cur.execute(f"ANALYZE {REPORT_TABLE}")
        cur.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.Identifier(REPORT_TABLE), sql.Identifier(reader)
            )
        )
