"""The upload cursor over a real audit log: every entry handed out once, in order, across
rotations (the file renamed while the upload was behind) and a lost or stale sidecar."""

from __future__ import annotations

from pathlib import Path

from cockpit.audit.log import AuditLog
from cockpit.team.cursor import Cursor, cursor_path, load_cursor, save_cursor, unsent


def _drain(log: Path, cursor: Cursor, limit: int = 3) -> tuple[list[int], Cursor]:
    seqs: list[int] = []
    while True:
        lines, cursor = unsent(log, cursor, limit)
        if not lines:
            return seqs, cursor
        seqs += [entry["seq"] for _, entry in lines]


def test_every_entry_once_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, rotate_bytes=1500)
    cursor = load_cursor(path)
    for i in range(5):
        log.record("note", text=f"first {i}")
    first, cursor = _drain(path, cursor)
    for i in range(20):  # behind: several rotations happen before the next upload
        log.record("note", text=f"second {i} " + "x" * 100)
    second, cursor = _drain(path, cursor)
    assert first + second == list(range(1, 26))
    assert len(list(tmp_path.glob("audit.jsonl.0*"))) >= 2  # it did rotate
    save_cursor(path, cursor)
    assert load_cursor(path) == cursor
    assert _drain(path, load_cursor(path))[0] == []


def test_a_lost_sidecar_hands_out_everything_and_a_replaced_file_skips_what_went_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(4):
        log.record("note", text=str(i))
    cursor_path(path).write_text("not json")
    again = load_cursor(path)
    assert _drain(path, again)[0] == [1, 2, 3, 4]  # idempotent inserts make this harmless
    seen, cursor = _drain(path, again)
    stale = Cursor(cursor.log_id, cursor.offset, cursor.seq, inode=cursor.inode + 12345)
    log.record("note", text="5")
    assert _drain(path, stale)[0] == [5]
