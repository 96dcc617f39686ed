"""Group commit: several bodies in one atomic batch, each answered about its own records."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from recops.errors import InvalidInput
from recops.ingest.group import GroupCommit, Result
from recops.ingest.pipeline import Body, IngestReport, ingest_bodies, ingest_files
from recops.workspace import Workspace
from tests.records import request, write_jsonl


def rows(ws: Workspace, sql: str) -> list[tuple[object, ...]]:
    return ws.lake.connect().execute(sql).fetchall()


def bodies(tmp_path: Path) -> list[Body]:
    """Three bodies: b repeats a's r2 (same content) and a's r1 with other content; c is not JSON."""
    a = write_jsonl(tmp_path / "a.jsonl", [request("r1"), request("r2"), {"request_id": "bad"}])
    b = write_jsonl(tmp_path / "b.jsonl", [request("r2"), request("r3"), request("r1", surface="search")])
    c = tmp_path / "c.parquet"
    c.write_bytes(b"not parquet at all")
    return [Body(a, "http:a"), Body(b, "http:b"), Body(c, "http:c")]


def test_each_body_gets_its_own_share_of_one_batch(workspace: Workspace, tmp_path: Path) -> None:
    a, b, c = ingest_bodies(workspace.lake, "requests", bodies(tmp_path))
    assert isinstance(a, IngestReport) and isinstance(b, IngestReport)
    assert isinstance(c, InvalidInput) and "c.parquet" in str(c)
    # a: r1, r2 stored, one record missing required fields; b: r3 stored, r2 a duplicate,
    # r1 with other content a conflict against a (the earlier body wins, as in sequence).
    assert (a.rows_read, a.rows_stored, a.rows_duplicate, a.rows_quarantined) == (3, 2, 0, 1)
    assert (b.rows_read, b.rows_stored, b.rows_duplicate, b.rows_quarantined, b.rows_conflict) == (
        3,
        1,
        1,
        1,
        1,
    )
    assert a.batches == b.batches and len(a.batches) == 1
    assert a.refused is not None and b.refused is not None
    assert a.refused.column("row").to_pylist() == [3]
    assert b.refused.to_pylist()[0]["row"] == 3 and b.refused.to_pylist()[0]["rule"] == "conflict"
    assert sorted(r[0] for r in rows(workspace, "SELECT request_id FROM requests")) == ["r1", "r2", "r3"]
    assert rows(workspace, "SELECT source, row FROM quarantine ORDER BY source") == [
        ("http:a", 3),
        ("http:b", 3),
    ]


def test_a_group_stores_what_the_same_bodies_store_one_by_one(tmp_path: Path) -> None:
    grouped = Workspace.init(tmp_path / "grouped")
    single = Workspace.init(tmp_path / "single")
    given = bodies(tmp_path)[:2]
    ingest_bodies(grouped.lake, "requests", given)
    for body in given:
        ingest_files(single.lake, "requests", [body.path])
    sql = "SELECT request_id, surface FROM requests ORDER BY request_id"
    assert rows(grouped, sql) == rows(single, sql)
    sql = "SELECT row, rule FROM quarantine ORDER BY rule, row"
    assert rows(grouped, sql) == rows(single, sql)


def test_concurrent_callers_share_batches_and_each_gets_its_answer(
    workspace: Workspace, tmp_path: Path
) -> None:
    callers = 6
    paths = [
        write_jsonl(tmp_path / f"{i}.jsonl", [request(f"r{i}-{j}") for j in range(i + 1)])
        for i in range(callers)
    ]
    release = threading.Event()
    groups: list[int] = []

    def committer(given: Sequence[Body]) -> list[Result]:
        groups.append(len(given))
        if len(groups) == 1:
            release.wait(30)  # hold the first batch until every other caller has queued
        return ingest_bodies(workspace.lake, "requests", given)

    group = GroupCommit(workspace.lake, "requests", committer=committer)
    answers: dict[int, IngestReport] = {}

    def send(i: int) -> None:
        answers[i] = group.submit(Body(paths[i], f"http:{i}"))

    first = threading.Thread(target=send, args=(0,))
    first.start()
    while not groups:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=send, args=(i,)) for i in range(1, callers)]
    for t in others:
        t.start()
    while len(group._queue) < callers - 1:
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join(60)
    assert groups == [1, callers - 1]  # the five that queued behind the first went in one batch
    assert (group.batches, group.bodies) == (2, callers)
    assert {i: a.rows_stored for i, a in answers.items()} == {i: i + 1 for i in range(callers)}
    assert rows(workspace, "SELECT count(*) FROM requests") == [(sum(range(1, callers + 1)),)]


def test_a_budget_splits_the_queue_and_an_unreadable_body_fails_alone(
    workspace: Workspace, tmp_path: Path
) -> None:
    given = bodies(tmp_path)
    group = GroupCommit(workspace.lake, "requests", max_bytes=1)  # every body goes alone
    assert group.submit(given[0]).rows_stored == 2
    with pytest.raises(InvalidInput, match="not a readable Parquet"):
        group.submit(given[2])
    assert group.submit(given[1]).rows_stored == 1
    assert group.batches == 3


def test_a_failed_batch_fails_every_caller_in_it(workspace: Workspace, tmp_path: Path) -> None:
    def broken(given: Sequence[Body]) -> list[Result]:
        raise OSError("disk full")

    group = GroupCommit(workspace.lake, "requests", committer=broken)
    with pytest.raises(OSError, match="disk full"):
        group.submit(bodies(tmp_path)[0])
    assert rows(workspace, "SELECT count(*) FROM requests") == [(0,)]
