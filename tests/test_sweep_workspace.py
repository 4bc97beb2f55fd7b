"""What a point's files say about its state, without Dask: an interrupted point is pending and resumes, a
failed one waits for --retry-failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snarefuse.sweep import Sweep
from snarefuse.sweep_workspace import TASK_FILE, point_status, record_failure, record_interruption

from .conftest import small_spec


@pytest.fixture()
def point(tmp_path: Path):
    sw = Sweep(small_spec(run__steps=200), workspace=tmp_path / "ws", analysis=False)
    p = sw.init()[0]
    (p.directory / "checkpoint.json").write_text(json.dumps({"step": 100}))
    (p.directory / TASK_FILE).write_text(json.dumps({"attempts": [{"state": "running", "worker": "host:1",
                                                                   "from_step": 0}]}))
    return sw, p


def test_a_point_interrupted_by_a_lost_scheduler_is_pending_and_planned(point) -> None:
    sw, p = point
    assert record_interruption(p.directory, "scheduler connection lost")
    st = point_status(p)
    assert (st.state, st.step) == ("pending", 100)
    assert "interrupted" in st.reason and "scheduler connection lost" in st.reason
    assert [q.key for q in sw.plan(retry_failed=False)[0]] == [p.key]
    attempts = json.loads((p.directory / TASK_FILE).read_text())["attempts"]
    assert [a["state"] for a in attempts] == ["interrupted", "interrupted"]


def test_a_failed_point_waits_for_retry_failed(point) -> None:
    sw, p = point
    assert record_failure(p.directory, "ValueError: boom")
    assert point_status(p).state == "failed"
    todo, skipped = sw.plan(retry_failed=False)
    assert todo == [] and "--retry-failed" in skipped[p.key]
    assert [q.key for q in sw.plan(retry_failed=True)[0]] == [p.key]


@pytest.mark.parametrize("error", ["task cancelled",
                                   "FutureCancelledError: x cancelled for reason: scheduler-connection-lost."])
def test_a_lost_scheduler_recorded_as_a_failure_by_older_versions_resumes(point, error: str) -> None:
    """Workspaces from before the distinction: the driver wrote 'failed' for a cancelled future."""
    sw, p = point
    (p.directory / TASK_FILE).write_text(json.dumps({"attempts": [
        {"state": "interrupted", "worker": "host:1"}, {"state": "failed", "error": error, "worker": "scheduler"}]}))
    assert point_status(p).state == "pending"
    assert [q.key for q in sw.plan()[0]] == [p.key]
