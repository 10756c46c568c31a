"""Failure reasons read well in an 80-column pane: the reason first, the noise gone."""

from __future__ import annotations

import psycopg
import pytest

from cockpit.sources.base import describe_error


def test_libpq_refusal_puts_the_reason_first(closed_port):
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(f"postgresql://u:secret@127.0.0.1:{closed_port}/db", connect_timeout=2)
    assert describe_error(err.value) == f"Connection refused (127.0.0.1:{closed_port})"


def test_libpq_server_error_keeps_its_words(pg):
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(pg.admin_url, dbname="no_such_database_here", connect_timeout=5)
    text = describe_error(err.value)
    assert (
        text.startswith('database "no_such_database_here" does not exist (') and "FATAL" not in text
    )
