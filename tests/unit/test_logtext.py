"""Log text: timestamps, escaping of untrusted text, long lines, JSON lines, the bounded buffer,
the rows shown when non-matching lines are hidden, and the runbook's log evidence specs."""

from __future__ import annotations

import pytest

from cockpit.config import ConfigError
from cockpit.incidents.log_evidence import evidence_text, per_minute
from cockpit.incidents.postmortem import render_postmortem
from cockpit.incidents.runbook import parse_runbook
from cockpit.sources.kube.logs import _Resume, status_message
from cockpit.sources.kube.logtext import (
    DISPLAY_LIMIT,
    LogBuffer,
    format_time,
    parse_time,
    read_json,
    sanitize,
    shown,
    split_timestamp,
)
from widgets.screens.logs_render import compile_search, visible_rows


def test_rfc3339_nano_round_trips_and_fewer_digits_parse():
    ns = 1_796_000_000_123_456_789
    assert parse_time(format_time(ns)) == ns
    assert parse_time("2026-12-01T10:42:13.5Z") == parse_time("2026-12-01T10:42:13Z") + 500_000_000
    assert parse_time("2026-12-01T11:42:13+01:00") == parse_time("2026-12-01T10:42:13Z")
    assert format_time(ns, 0).endswith(":20Z") and "." not in format_time(ns, 0)
    assert parse_time("not a time") is None and parse_time("2026-12-01T10:42:13.x1Z") is None


def test_split_timestamp_keeps_the_text_and_replaces_invalid_utf8():
    stamp, text = split_timestamp(b"2026-12-01T10:42:13.000000001Z hello \xff world")
    assert stamp == parse_time("2026-12-01T10:42:13Z") + 1
    assert text == "hello \ufffd world"
    assert split_timestamp(b"no stamp here") == (None, "no stamp here")


def test_control_characters_and_escape_sequences_are_shown_escaped():
    evil = "a\x1b]0;pwned\x07b\x1b[2Jc\x9b31m\rd\x00e\u202ef\tg"
    out = sanitize(evil)
    assert out == "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x9b31m\\x0dd\\x00e\\u202ef    g"
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in out)


def test_a_line_over_64_kb_is_cut_with_its_size_noted():
    line = "x" * 1_200_000
    text = shown(line)
    assert text.endswith(" … (1.2 MB line)") and len(text) < DISPLAY_LIMIT + 40


def test_json_lines_read_as_time_level_message_and_fields():
    parsed = read_json('{"ts":"10:42:13","level":"warn","msg":"slow","took_ms":812,"ok":null}')
    assert parsed is not None
    assert (parsed.time, parsed.level, parsed.message) == ("10:42:13", "warn", "slow")
    assert parsed.fields == (("took_ms", "812"), ("ok", "null"))
    assert read_json("[1, 2]") is None and read_json("{not json}") is None
    assert read_json("plain text") is None


def test_the_buffer_keeps_time_order_and_counts_what_it_drops():
    buffer = LogBuffer(5)
    buffer.add("a", [(10, "a10"), (30, "a30")])
    buffer.add("b", [(20, "b20"), (40, "b40")])
    buffer.add("a", [(50, "a50"), (60, "a60")])
    _, lines, dropped, received = buffer.snapshot()
    assert [ln.text for ln in lines] == ["b20", "a30", "b40", "a50", "a60"]
    assert (dropped, received) == (1, 6) and len(lines) == received - dropped


def test_resume_drops_exactly_the_lines_already_taken():
    resume = _Resume()
    for stamp, text in ((1, "x"), (2, "y"), (2, "y")):
        assert resume.keep(stamp, text)
        resume.took(stamp, text)
    # the reconnect replays from the start of the second: both "y" at 2 are known, a third is new
    resume.reconnecting()
    replay = [(1, "x"), (2, "y"), (2, "y"), (2, "y"), (3, "z")]
    kept = []
    for stamp, text in replay:
        if resume.keep(stamp, text):
            resume.took(stamp, text)
            kept.append((stamp, text))
    assert kept == [(2, "y"), (3, "z")]


def test_status_messages_are_read_from_the_body():
    class Refused(Exception):
        status, reason = 400, "Bad Request"
        body = b'{"kind":"Status","message":"container \\"api\\" is waiting to start: X"}'

    assert status_message(Refused()) == (400, 'container "api" is waiting to start: X')


def test_hiding_keeps_two_lines_of_context_and_separates_groups():
    assert visible_rows(20, [5, 6, 15], True) == [3, 4, 5, 6, 7, 8, None, 13, 14, 15, 16, 17]
    assert visible_rows(3, [], False) == [0, 1, 2]


def test_search_is_a_regex_or_plain_text_with_smart_case():
    assert compile_search("rate.*exceeded").search("Rate limit exceeded")
    assert compile_search("a[b").search("xa[by")  # not a regex: plain text
    assert not compile_search("Rate").search("rate")
    assert compile_search("") is None


def test_runbook_log_specs_are_validated():
    base = {"title": "t", "diagnosis": "d"}
    book = parse_runbook(
        {"entries": {"oom": {**base, "logs": {"previous": True, "lines": 5}}}}, "rb"
    )
    assert book.entries["oom"].logs is not None and book.entries["oom"].logs.lines == 5
    for logs, key in (
        ({"patern": "x"}, "entries.oom.logs"),
        ({"lines": "5"}, "entries.oom.logs.lines"),
        ({"pattern": "("}, "entries.oom.logs.pattern"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_runbook({"entries": {"oom": {**base, "logs": logs}}}, "rb")
        assert caught.value.key == key


def test_per_minute_counts_include_empty_minutes():
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 10, 42, 30, tzinfo=UTC)
    minute = int(now.timestamp()) // 60 * 60 * 10**9
    found = [(minute - 60 * 10**9, "p", "x"), (minute + 1, "p", "x"), (minute + 2, "p", "x")]
    assert per_minute(found, now, 3) == (("10:40", 0), ("10:41", 1), ("10:42", 2))


def test_the_post_mortem_includes_the_log_evidence_inert():
    entries = [
        {
            "event": "incident.detected",
            "incident_id": "INC-1",
            "time": "2026-12-01T10:42:00Z",
            "severity": "P2",
            "title": "Out of memory (OOM)",
            "rule": "oom",
        },
        {
            "event": "incident.log_evidence",
            "incident_id": "INC-1",
            "time": "2026-12-01T10:43:00Z",
            "summary": "previous container, last 2 lines",
            "lines": ["p 10:41:59 fatal error: runtime: out of memory", "p 10:42 \x1b[2J"],
            "per_minute": [],
            "problems": [],
        },
    ]
    report = render_postmortem("INC-1", entries)
    assert (
        "## Log evidence" in report
        and "    p 10:41:59 fatal error: runtime: out of memory" in report
    )
    assert "\x1b" not in report and "\\x1b[2J" in report
    assert evidence_text(entries[1])[0] == "previous container, last 2 lines"
