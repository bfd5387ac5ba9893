"""The audit log's file: bounded by rotation, whole JSON lines, read back newest first."""

from __future__ import annotations

import json
from pathlib import Path

from app.services.audit import AuditEntry, AuditLog


def entry(n: int) -> AuditEntry:
    return AuditEntry(time=float(n), action="POST /api/vm/gpio", actor="admin", address="10.0.0.1", result="ok")


def test_rotation_keeps_the_log_within_twice_its_bound(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=4096)
    for n in range(1000):
        log.write(entry(n))
    log.close()
    current, rotated = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.1"
    assert current.stat().st_size <= 4096 and rotated.stat().st_size <= 4096
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "audit.jsonl.1"]
    lines = rotated.read_bytes().splitlines() + current.read_bytes().splitlines()
    times = [json.loads(line)["time"] for line in lines]
    assert times == sorted(times) and times[-1] == 999.0  # the newest kept, in order, none torn


def test_entries_newest_first_paged_and_torn_lines_skipped(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=2048)
    for n in range(60):
        log.write(entry(n))
    log.close()
    with (tmp_path / "audit.jsonl").open("ab") as f:
        f.write(b'{"time": 61, "action": "POST /api/vm/gp')  # as a power cut leaves it
    newest = log.entries(limit=5)
    assert [e.time for e in newest] == [59.0, 58.0, 57.0, 56.0, 55.0]
    assert [e.time for e in log.entries(limit=3, before=55.0)] == [54.0, 53.0, 52.0]
    assert newest[0].actor == "admin" and newest[0].address == "10.0.0.1"


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "missing-dir" / "x" / "audit.jsonl")
    for n in range(5000):
        log.write(entry(n))
    log.close()
    assert log.dropped + len(log.entries(limit=5000)) == 5000
