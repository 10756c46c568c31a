"""The audit chain: what it records, what it never records, and every kind of tampering it sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.audit.log import GENESIS, AuditError, AuditLog, entry_hash, read_entries, verify
from cockpit.audit.operator import identity, read_loginuid

N = 6


def _write_log(path: Path, n: int = N) -> list[dict]:
    log = AuditLog(path, session_id="s1")
    return [
        log.record("intent", action="scale", target=f"deploy/api-{i}", params={"replicas": i})
        for i in range(n)
    ]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_entries_are_chained_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    entries = _write_log(path)
    assert [e["seq"] for e in entries] == list(range(1, N + 1))
    assert entries[0]["prev"] == GENESIS
    for a, b in zip(entries, entries[1:], strict=False):
        assert b["prev"] == a["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert read_entries(path) == entries
    assert verify(path) == (True, None, f"{N} entries, chain intact")


def test_entry_names_the_operator_and_session(tmp_path: Path) -> None:
    entry = AuditLog(tmp_path / "a.jsonl", session_id="sess-1").record(
        "cancelled", action="restart"
    )
    op = entry["operator"]
    assert op["uid"] == os.getuid() and op["host"]
    assert entry["session"] == "sess-1" and entry["event"] == "cancelled"
    assert entry["time"].endswith("Z")


def test_environment_claims_are_marked_as_such() -> None:
    ident = identity(
        {"SSH_CLIENT": "203.0.113.9 51234 22", "SUDO_USER": "alice", "USER": "mallory"}
    )
    assert ident["from_env"] == {
        "ssh_client_origin": "203.0.113.9:51234",
        "SUDO_USER": "alice",
        "USER": "mallory",
    }
    assert "USER" not in ident and ident["uid"] == os.getuid()


def test_loginuid_unset_and_unreadable(tmp_path: Path) -> None:
    unset = tmp_path / "loginuid"
    unset.write_text("4294967295")
    assert read_loginuid(str(unset)) is None
    assert read_loginuid(str(tmp_path / "missing")) is None
    unset.write_text("1000")
    assert read_loginuid(str(unset)) == 1000


@pytest.mark.parametrize("line", range(N))
def test_editing_a_line_fails_at_that_line(tmp_path: Path, line: int) -> None:
    path = tmp_path / "audit.jsonl"
    _write_log(path)
    lines = _lines(path)
    entry = json.loads(lines[line])
    entry["params"]["replicas"] = 99
    lines[line] = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    path.write_bytes(b"".join(lines))
    ok, bad, reason = verify(path)
    assert (ok, bad) == (False, line + 1) and "modified" in reason


@pytest.mark.parametrize("line", range(N))
def test_deleting_a_line_fails_at_that_line(tmp_path: Path, line: int) -> None:
    path = tmp_path / "audit.jsonl"
    _write_log(path)
    lines = _lines(path)
    del lines[line]
    path.write_bytes(b"".join(lines))
    ok, bad, reason = verify(path)
    # the entry now at the deleted position no longer follows; deleting the last is seen via the
    # head
    assert (ok, bad) == (False, line + 1), reason


@pytest.mark.parametrize("line", range(N - 1))
def test_reordering_lines_fails_at_the_first_moved_line(tmp_path: Path, line: int) -> None:
    path = tmp_path / "audit.jsonl"
    _write_log(path)
    lines = _lines(path)
    lines[line], lines[line + 1] = lines[line + 1], lines[line]
    path.write_bytes(b"".join(lines))
    assert verify(path)[:2] == (False, line + 1)


def test_recomputing_the_hash_of_an_edited_line_still_breaks_the_next(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write_log(path)
    lines = _lines(path)
    entry = json.loads(lines[2])
    entry["action"] = "restart"
    entry["hash"] = entry_hash(entry)
    lines[2] = (json.dumps(entry) + "\n").encode()
    path.write_bytes(b"".join(lines))
    assert verify(path)[:2] == (False, 4)


def test_truncated_last_line_is_named_and_the_next_entry_does_not_glue_onto_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    _write_log(path, 3)
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # a crash mid-write of entry 3
    ok, bad, reason = verify(path)
    assert (ok, bad) == (False, 3) and "truncated" in reason
    entry = AuditLog(path).record("result", outcome="ok")
    assert entry["seq"] == 3 and entry["prev"] == json.loads(_lines(path)[1])["hash"]
    assert json.loads(_lines(path)[-1]) == entry  # a line of its own
    assert verify(path)[:2] == (False, 3)  # the damage stays visible


def test_secrets_are_masked_recursively(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).record(
        "intent",
        action="kill_idle",
        context={
            "dsn": "postgresql://app:hunter2pw@db:5432/predictiq",
            "libpq": "host=db password=hunter3pw",
        },
        params={
            "headers": {"Authorization": "Bearer tok-abcdef"},
            "api_token": "tok-zzz",
            "nested": [{"client_secret": "s3cr3t"}],
        },
        error="401 with Authorization: Bearer tok-qqq",
        command="curl -H 'Authorization: Bearer tok-curl' https://x",
    )
    text = path.read_text()
    for secret in (
        "hunter2pw",
        "hunter3pw",
        "tok-abcdef",
        "tok-zzz",
        "s3cr3t",
        "tok-qqq",
        "tok-curl",
    ):
        assert secret not in text
    assert verify(path)[0]


def test_untrusted_text_cannot_forge_a_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    forged = '"}\n{"seq":99,"event":"result","outcome":"ok"}\u2028\r\x1b[2J'
    AuditLog(path).record("intent", target=forged)
    assert len(_lines(path)) == 1
    assert read_entries(path)[0]["target"] == forged
    assert b"\x1b" not in path.read_bytes() and verify(path)[0]


def test_unwritable_directory_raises_audit_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AuditError, match="cannot open audit log"):
        AuditLog(blocker / "audit.jsonl").record("intent")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_raises_audit_error() -> None:
    with pytest.raises(AuditError, match="cannot write"):
        AuditLog(Path("/dev/full")).record("intent")


def test_two_processes_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    code = (
        "import sys; from cockpit.audit.log import AuditLog; "
        "log = AuditLog(sys.argv[1], sys.argv[2])\n"
        "for i in range(40): log.record('incident.note', n=i)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{i}"]) for i in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    entries = read_entries(path)
    assert len(entries) == 120 and [e["seq"] for e in entries] == list(range(1, 121))
    assert verify(path) == (True, None, "120 entries, chain intact")
