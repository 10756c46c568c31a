"""The team store's `cockpit` schema: versioned migrations, applied once each, and the GRANTs.

`migrate(conn)` applies every migration newer than the schema's recorded version, each in its own
transaction under an advisory lock, so two `cockpit team init` at once, or one run twice, end in
the same schema. Entries are append-only for everyone: a trigger refuses UPDATE and DELETE even
to the owner (the live role is not granted them either), so the store is an anchor for the local
trails (`cockpit audit verify --team`).

Two roles: the live role (cockpits that act) may INSERT entries, claim incident ids and manage
leases, presence and page claims; the read-only role (wall screens) may only SELECT and LISTEN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

SCHEMA = "cockpit"
CHANNEL = "cockpit_events"  # NOTIFY channel: the payload is the new entry's id
_LOCK_KEY = 0x636F636B  # pg_advisory_xact_lock key of migrations ("cock")
_ROLE = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")

_V1 = """
CREATE SCHEMA IF NOT EXISTS cockpit;
CREATE TABLE cockpit.entries (
    id bigserial PRIMARY KEY,
    log_id text NOT NULL,
    session text NOT NULL,
    seq bigint NOT NULL,
    event text NOT NULL,
    incident_id text,
    operator text NOT NULL,
    time timestamptz NOT NULL,
    prev text NOT NULL,
    hash text NOT NULL,
    body text NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session, seq)
);
CREATE INDEX entries_incident ON cockpit.entries (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX entries_log ON cockpit.entries (log_id, seq);

CREATE TABLE cockpit.incidents (
    id text PRIMARY KEY,
    rule text NOT NULL,
    key text NOT NULL,
    opened_by text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz
);
CREATE UNIQUE INDEX incidents_one_open_per_finding
    ON cockpit.incidents (rule, key) WHERE closed_at IS NULL;
CREATE TABLE cockpit.incident_counters (day text PRIMARY KEY, last bigint NOT NULL);

CREATE TABLE cockpit.presence (
    session text PRIMARY KEY,
    operator text NOT NULL,
    host text NOT NULL,
    context text NOT NULL,
    mode text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE cockpit.leases (
    target text PRIMARY KEY,
    session text NOT NULL,
    operator text NOT NULL,
    action text NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE TABLE cockpit.pages (
    incident_id text NOT NULL,
    event_action text NOT NULL,
    session text NOT NULL,
    operator text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, event_action)
);

CREATE FUNCTION cockpit.entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'cockpit.entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON cockpit.entries
    FOR EACH ROW EXECUTE FUNCTION cockpit.entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON cockpit.entries
    FOR EACH STATEMENT EXECUTE FUNCTION cockpit.entries_append_only();

-- every new entry wakes the listening cockpits; resolutions close the finding's incident row
CREATE FUNCTION cockpit.entries_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cockpit_events', NEW.id::text);
    IF NEW.event IN ('incident.resolved', 'incident.closed') THEN
        UPDATE cockpit.incidents SET closed_at = NEW.time
            WHERE id = NEW.incident_id AND closed_at IS NULL;
    ELSIF NEW.event IN ('incident.detected', 'incident.declared')
          AND NEW.incident_id ~ '^INC-[0-9]{8}-[0-9]{4,}$' THEN
        -- an id numbered by a cockpit while the store was away: the counter moves past it, and
        -- the incident is registered unless its finding has another open one meanwhile
        INSERT INTO cockpit.incident_counters AS c (day, last)
            VALUES (substr(NEW.incident_id, 5, 8), substr(NEW.incident_id, 14)::bigint)
            ON CONFLICT (day) DO UPDATE SET last = greatest(c.last, EXCLUDED.last);
        BEGIN
            INSERT INTO cockpit.incidents (id, rule, key, opened_by, opened_at) VALUES (
                NEW.incident_id,
                coalesce((NEW.body::jsonb)->>'rule', 'declared'),
                CASE WHEN NEW.event = 'incident.declared' THEN NEW.incident_id
                     ELSE coalesce((NEW.body::jsonb)->>'target', NEW.incident_id) END,
                NEW.operator, NEW.time)
            ON CONFLICT (id) DO NOTHING;
        EXCEPTION WHEN unique_violation THEN
            NULL;  -- its finding already has an open incident (opened while this one was away)
        END;
    ELSIF NEW.event = 'incident.reopened' THEN
        UPDATE cockpit.incidents i SET closed_at = NULL
            WHERE i.id = NEW.incident_id AND i.closed_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM cockpit.incidents o
                              WHERE o.rule = i.rule AND o.key = i.key AND o.closed_at IS NULL);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER entries_inserted AFTER INSERT ON cockpit.entries
    FOR EACH ROW EXECUTE FUNCTION cockpit.entries_inserted();

CREATE FUNCTION cockpit.next_incident_number(p_day text) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO cockpit.incident_counters AS c (day, last) VALUES (p_day, 1)
    ON CONFLICT (day) DO UPDATE SET last = c.last + 1
    RETURNING c.last
$$;

-- the open incident of a finding: the caller's new one, or the one another cockpit opened
CREATE FUNCTION cockpit.claim_incident(p_rule text, p_key text, p_day text, p_by text)
RETURNS TABLE (incident_id text, created boolean) LANGUAGE plpgsql AS $$
DECLARE
    found_id text;
    n bigint;
BEGIN
    LOOP
        SELECT i.id INTO found_id FROM cockpit.incidents i
            WHERE i.rule = p_rule AND i.key = p_key AND i.closed_at IS NULL;
        IF found_id IS NOT NULL THEN
            incident_id := found_id; created := false; RETURN NEXT; RETURN;
        END IF;
        n := cockpit.next_incident_number(p_day);
        found_id := 'INC-' || p_day || '-' || lpad(n::text, greatest(4, length(n::text)), '0');
        BEGIN
            INSERT INTO cockpit.incidents (id, rule, key, opened_by)
                VALUES (found_id, p_rule, p_key, p_by);
            incident_id := found_id; created := true; RETURN NEXT; RETURN;
        EXCEPTION WHEN unique_violation THEN
            found_id := NULL;  -- opened by another cockpit meanwhile: attach to theirs
        END;
    END LOOP;
END $$;
"""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "entries, incidents, presence, leases, page claims", _V1),
)
LATEST = MIGRATIONS[-1][0]

# What each role may touch. The read-only role gets SELECT and nothing else.
_LIVE_GRANTS = (
    "GRANT INSERT ON cockpit.entries TO {live}",
    "GRANT USAGE ON SEQUENCE cockpit.entries_id_seq TO {live}",
    "GRANT INSERT, UPDATE ON cockpit.incidents, cockpit.incident_counters TO {live}",
    "GRANT INSERT, UPDATE, DELETE ON cockpit.presence, cockpit.leases TO {live}",
    "GRANT INSERT ON cockpit.pages TO {live}",
    "GRANT EXECUTE ON FUNCTION cockpit.claim_incident(text, text, text, text),"
    " cockpit.next_incident_number(text) TO {live}",
)


@dataclass(frozen=True)
class Migrated:
    """What `migrate` did: the version before and after, and the migrations it applied."""

    before: int
    after: int
    applied: tuple[str, ...]


def check_role_name(name: str) -> str:
    """A role name as given (lower case, no quoting games), or ValueError saying why not."""
    if not _ROLE.match(name):
        raise ValueError(
            f"role name {name!r}: expected lower-case letters, digits and _ (at most 63), "
            "starting with a letter or _"
        )
    return name


def current_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The schema's version, 0 when there is none yet."""
    row = conn.execute("SELECT to_regclass('cockpit.schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM cockpit.schema_version").fetchone()
    return int(str(row[0])) if row else 0


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> Migrated:
    """Apply every migration the schema lacks (idempotent; safe to run concurrently)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS cockpit")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS cockpit.schema_version ("
            " version int PRIMARY KEY, what text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        before = current_version(conn)
        applied: list[str] = []
        for version, what, ddl in MIGRATIONS:
            if version <= before:
                continue
            conn.execute(ddl.encode())
            conn.execute(
                "INSERT INTO cockpit.schema_version (version, what) VALUES (%s, %s)",
                (version, what),
            )
            applied.append(f"{version}: {what}")
    return Migrated(before, max(before, LATEST), tuple(applied))


def grant_statements(live_role: str, read_role: str) -> list[sql.Composed]:
    """The GRANTs of the two roles (both must exist), as SQL to run or print."""
    live, read = (
        sql.Identifier(check_role_name(live_role)),
        sql.Identifier(check_role_name(read_role)),
    )
    both = sql.SQL("{}, {}").format(live, read)
    out = [
        sql.SQL("GRANT USAGE ON SCHEMA cockpit TO {}").format(both),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA cockpit TO {}").format(both),
        sql.SQL(
            "REVOKE EXECUTE ON FUNCTION cockpit.claim_incident(text, text, text, text),"
            " cockpit.next_incident_number(text) FROM PUBLIC"
        ).format(),
    ]
    out += [sql.SQL(g).format(live=live) for g in _LIVE_GRANTS]
    # belt and braces: whatever it is granted later, a wall screen's sessions are read-only
    out.append(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(read))
    return out
