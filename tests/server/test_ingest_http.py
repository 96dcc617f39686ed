"""HTTP ingest (``POST /api/ingest/{kind}``) against file ingest, on real workspaces.

The reference is ``ingest_files`` itself: the same simulated files (with duplicates,
conflicts and broken records mixed in) are ingested from disk into one workspace and
posted over HTTP into another, and the stored rows and the quarantine must be equal.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recops.contract import KINDS
from recops.ingest import ingest_files
from recops.server.app import create_app
from recops.server.tokens import ROLES, create_token
from recops.sim import SimConfig, simulate
from recops.store.tables import AuditEntryRow, IngestedSourceRow
from recops.workspace import Workspace
from tests.records import request, write_jsonl

# A conflict's detail names the batch holding the stored record: a different id in each lake.
BATCH_ID = re.compile(r"batch \d{8}T\d{6}-[0-9a-f]+")
DIRT = {"duplicate_rate": 0.05, "broken_rate": 0.05, "conflict_rate": 0.03, "seed": 11}


@dataclass
class Pair:
    """A workspace fed from files and one fed over HTTP, with a token per role for the latter."""

    by_file: Workspace
    by_http: Workspace
    client: TestClient
    tokens: dict[str, str]

    def auth(self, role: str = "ingest") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def post(self, kind: str, body: bytes, content_type: str, label: str, role: str = "ingest") -> Any:
        headers = {**self.auth(role), "Content-Type": content_type}
        return self.client.post(f"/api/ingest/{kind}", params={"label": label}, content=body, headers=headers)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    by_file = Workspace.init(tmp_path / "by_file")
    by_http = Workspace.init(tmp_path / "by_http")
    tokens = {role: create_token(by_http.store, f"t-{role}", role, created_by="tests") for role in ROLES}
    try:
        with TestClient(create_app(by_http), base_url="http://127.0.0.1") as client:
            yield Pair(by_file, by_http, client, tokens)
    finally:
        by_file.close()
        by_http.close()


@pytest.fixture(scope="module")
def world_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-day simulated world written as JSON Lines and as Parquet, with dirt."""
    world = simulate(SimConfig(seed=3, days=2, requests_per_day=300, incidents=[]))
    root = tmp_path_factory.mktemp("world")
    return {fmt: (world.write(root / fmt, fmt=fmt, **DIRT), root / fmt)[1] for fmt in ("jsonl", "parquet")}


def files_of(root: Path, kind: str, suffix: str) -> list[Path]:
    return sorted((root / kind).rglob(f"*{suffix}"))


def label_of(path: Path, root: Path) -> str:
    return "-".join(path.relative_to(root).with_suffix("").parts)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def stored_rows(ws: Workspace, kind: str) -> list[str]:
    """Every stored row without the ingest bookkeeping, in a canonical, sorted form."""
    sql = f'SELECT * EXCLUDE (_batch, _ingested_at) FROM "{kind}"'
    table = ws.lake.connect().execute(sql).to_arrow_table()
    return sorted(_canonical(row) for row in table.to_pylist())


def quarantine_rows(ws: Workspace, labels: dict[str, str]) -> list[tuple[Any, ...]]:
    """Quarantine rows keyed by the label of their source (a file path, or an HTTP body)."""
    rows = (
        ws.lake.connect()
        .execute("SELECT kind, source, row, rule, field, detail, record FROM quarantine")
        .fetchall()
    )
    out = []
    for kind, source, row, rule, field, detail, record in rows:
        try:
            parsed: Any = _canonical(json.loads(record))
        except (TypeError, ValueError):
            parsed = record
        detail = BATCH_ID.sub("batch <id>", detail) if detail else detail
        out.append((kind, labels[source], row, rule, field, detail, parsed))
    return sorted(out, key=_canonical)


def http_labels(ws: Workspace) -> dict[str, str]:
    """HTTP sources are ``http:<label>``: map each to its label."""
    sources = ws.lake.connect().execute("SELECT DISTINCT source FROM quarantine").fetchall()
    assert all(s.startswith("http:") for (s,) in sources), sources
    return {s: s.removeprefix("http:") for (s,) in sources}


def assert_same_lake(pair: Pair, file_labels: dict[str, str]) -> None:
    for kind in KINDS:
        assert stored_rows(pair.by_http, kind) == stored_rows(pair.by_file, kind), kind
    by_file = quarantine_rows(pair.by_file, file_labels)
    assert by_file, "the simulated dirt should have put records in quarantine"
    assert quarantine_rows(pair.by_http, http_labels(pair.by_http)) == by_file


def ingest_by_file(pair: Pair, files: list[tuple[str, Path]], root: Path) -> dict[str, str]:
    """File ingest, one file per batch in the posting order; returns source path → label."""
    labels = {}
    for kind, path in files:
        ingest_files(pair.by_file.lake, kind, [path])
        labels[str(path.resolve())] = label_of(path, root)
    return labels


def all_files(root: Path, suffix: str) -> list[tuple[str, Path]]:
    return [(kind, path) for kind in KINDS for path in files_of(root, kind, suffix)]


def check_answer(answer: dict[str, Any], rows_in_body: int) -> None:
    """The counts add up, and every refused record is listed by row."""
    assert answer["rows_read"] == rows_in_body
    assert (
        answer["rows_stored"] + answer["rows_duplicate"] + answer["rows_quarantined"] == answer["rows_read"]
    )
    assert len(answer["rejected"]) == answer["rows_quarantined"]
    assert all(1 <= r["row"] <= rows_in_body and r["rule"] for r in answer["rejected"])


def test_json_lines_bodies_store_what_file_ingest_stores(pair: Pair, world_files: dict[str, Path]) -> None:
    root = world_files["jsonl"]
    files = all_files(root, ".jsonl")
    for kind, path in files:
        body = path.read_bytes()
        response = pair.post(kind, body, "application/x-ndjson", label_of(path, root))
        assert response.status_code == 200, response.text
        assert response.json()["format"] == "jsonl"
        check_answer(response.json(), sum(1 for line in body.splitlines() if line.strip()))
    assert_same_lake(pair, ingest_by_file(pair, files, root))


def test_json_bodies_store_what_file_ingest_stores(
    pair: Pair, world_files: dict[str, Path], tmp_path: Path
) -> None:
    """A JSON list holds only parseable records, so the file side gets the same lines."""
    root = world_files["jsonl"]
    files: list[tuple[str, Path]] = []
    for kind, path in all_files(root, ".jsonl"):
        lines = []
        for line in path.read_text().splitlines():
            try:
                json.loads(line)
            except ValueError:
                continue
            lines.append(line)
        copy = tmp_path / "json" / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text("\n".join(lines) + "\n")
        files.append((kind, copy))
        records = [json.loads(line) for line in lines]
        body = json.dumps({"records": records} if kind == "outcomes" else records).encode()
        response = pair.post(kind, body, "application/json", label_of(copy, tmp_path / "json"))
        assert response.status_code == 200, response.text
        check_answer(response.json(), len(records))
    assert_same_lake(pair, ingest_by_file(pair, files, tmp_path / "json"))


def test_parquet_bodies_store_what_file_ingest_stores(pair: Pair, world_files: dict[str, Path]) -> None:
    root = world_files["parquet"]
    files = all_files(root, ".parquet")
    for i, (kind, path) in enumerate(files):
        # Both ways of naming Parquet: its media type, and octet-stream found by its magic bytes.
        content_type = "application/vnd.apache.parquet" if i % 2 else "application/octet-stream"
        response = pair.post(kind, path.read_bytes(), content_type, label_of(path, root))
        assert response.status_code == 200, response.text
        assert response.json()["format"] == "parquet"
        check_answer(response.json(), pq.ParquetFile(path).metadata.num_rows)
    assert_same_lake(pair, ingest_by_file(pair, files, root))


def test_arrow_ipc_bodies_store_what_file_ingest_stores(pair: Pair, world_files: dict[str, Path]) -> None:
    root = world_files["parquet"]
    files = all_files(root, ".parquet")
    for kind, path in files:
        table = pq.read_table(path)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=97)  # several record batches
        arrow = "application/vnd.apache.arrow.stream"
        response = pair.post(kind, sink.getvalue(), arrow, label_of(path, root))
        assert response.status_code == 200, response.text
        assert response.json()["format"] == "arrow"
        check_answer(response.json(), table.num_rows)
    assert_same_lake(pair, ingest_by_file(pair, files, root))


def test_a_bad_record_is_named_by_row_and_rule_and_lands_in_quarantine(pair: Pair, tmp_path: Path) -> None:
    bad = {**request("r2"), "request_id": None}
    records = [request("r1"), bad, request("r3", latency_ms="slow")]
    # What file ingest says about the same records is the expected answer.
    reference = ingest_files(pair.by_file.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", records)])
    expected = (
        pair.by_file.lake.connect()
        .execute("SELECT row, rule, field, detail FROM quarantine ORDER BY row")
        .fetchall()
    )
    assert [row for row, *_ in expected] == [2, 3]

    response = pair.post("requests", json.dumps(records).encode(), "application/json", "svc-7")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["rows_stored"] == reference.rows_stored == 1
    assert answer["quarantined_by_rule"] == dict(reference.rules)
    assert [(r["row"], r["rule"], r["field"], r["detail"]) for r in answer["rejected"]] == expected
    assert answer["rejected_truncated"] is False
    in_quarantine = (
        pair.by_http.lake.connect()
        .execute("SELECT source, row, rule, field, detail, _batch FROM quarantine ORDER BY row")
        .fetchall()
    )
    assert [(row, rule, field, detail) for _s, row, rule, field, detail, _b in in_quarantine] == expected
    assert {source for source, *_ in in_quarantine} == {"http:svc-7"} == {answer["source"]}
    assert {b for *_, b in in_quarantine} == set(answer["batches"])


def test_a_replay_stores_nothing_new(pair: Pair) -> None:
    body = "\n".join(json.dumps(request(f"r{i}")) for i in range(50)).encode()
    first = pair.post("requests", body, "application/x-ndjson", "once").json()
    assert first["rows_stored"] == 50
    before = stored_rows(pair.by_http, "requests")
    again = pair.post("requests", body, "application/x-ndjson", "twice").json()
    assert (again["rows_stored"], again["rows_duplicate"], again["rows_quarantined"]) == (0, 50, 0)
    assert stored_rows(pair.by_http, "requests") == before
    # The same key with different content is refused as a conflict, never overwritten.
    changed = json.dumps(request("r0", latency_ms=99.0)).encode()
    conflict = pair.post("requests", changed, "application/x-ndjson", "changed").json()
    assert (conflict["rows_stored"], conflict["rows_conflict"]) == (0, 1)
    assert conflict["rejected"][0]["rule"] == "conflict"
    assert stored_rows(pair.by_http, "requests") == before
    # Bodies are not remembered as ingested source files: the catalog does not grow per call.
    with pair.by_http.store.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestedSourceRow)) == 0


def test_roles_and_tokens(pair: Pair) -> None:
    body = json.dumps([request("r1")]).encode()
    url = "/api/ingest/requests"
    json_type = {"Content-Type": "application/json"}
    assert pair.client.post(url, content=body, headers=json_type).status_code == 401
    wrong = {**json_type, "Authorization": "Bearer recops_not-a-token"}
    assert pair.client.post(url, content=body, headers=wrong).status_code == 401
    viewer = pair.post("requests", body, "application/json", "v", role="viewer")
    assert viewer.status_code == 403
    assert "needs ingest" in viewer.json()["detail"]
    assert stored_rows(pair.by_http, "requests") == []
    for role in ("ingest", "operator", "admin"):
        assert pair.post("requests", body, "application/json", role, role=role).status_code == 200


def test_each_call_is_audited_with_its_actor_and_counts(pair: Pair) -> None:
    body = json.dumps([request("r1"), {**request("r2"), "ts": "yesterday"}]).encode()
    answer = pair.post("requests", body, "application/json", "audited").json()
    with pair.by_http.store.session() as session:
        row = session.scalars(select(AuditEntryRow).where(AuditEntryRow.action == "ingest.http")).one()
        actor, subject, payload = row.actor, row.subject, json.loads(row.payload)
    assert (actor, subject) == ("token:t-ingest", "requests")
    assert payload["label"] == "audited"
    assert payload["batches"] == answer["batches"]
    assert (payload["rows_stored"], payload["rows_quarantined"]) == (1, 1)


def test_oversize_bodies_are_refused_before_anything_is_stored(pair: Pair) -> None:
    pair.client.app.state.ingest_max_body_bytes = 2_000  # type: ignore[attr-defined]
    body = "\n".join(json.dumps(request(f"r{i}")) for i in range(20)).encode()
    assert len(body) > 2_000
    declared = pair.post("requests", body, "application/x-ndjson", "big")
    assert declared.status_code == 413
    assert "larger than 2000 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    headers = {**pair.auth(), "Content-Type": "application/x-ndjson"}
    streamed = pair.client.post("/api/ingest/requests", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert stored_rows(pair.by_http, "requests") == []
    small = pair.post("requests", body[: body.index(b"\n")], "application/x-ndjson", "small")
    assert small.status_code == 200 and small.json()["rows_stored"] == 1


def test_unknown_kinds_and_unreadable_bodies_get_clear_errors(pair: Pair) -> None:
    unknown = pair.post("impressions", b"[]", "application/json", "x")
    assert unknown.status_code == 404
    assert all(kind in unknown.json()["detail"] for kind in KINDS)
    not_json = pair.post("requests", b"{nope", "application/json", "x")
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["detail"]
    not_a_list = pair.post("requests", b'{"request_id": "r1"}', "application/json", "x")
    assert not_a_list.status_code == 400
    not_parquet = pair.post("requests", b"PAR1 but not really", "application/vnd.apache.parquet", "x")
    assert not_parquet.status_code == 400 and "Parquet" in not_parquet.json()["detail"]
    csv = pair.post("requests", b"request_id\nr1\n", "text/csv", "x")
    assert csv.status_code == 415
    unknown_binary = pair.post("requests", b"\x00\x01\x02\x03\x04", "application/octet-stream", "x")
    assert unknown_binary.status_code == 415
    bad_label = pair.post("requests", b"[]", "application/json", "../etc")
    assert bad_label.status_code == 400 and "label" in bad_label.json()["detail"]
    assert stored_rows(pair.by_http, "requests") == []


def test_the_route_is_documented_in_openapi(pair: Pair) -> None:
    spec = pair.client.get("/api/openapi.json").json()
    post = spec["paths"]["/api/ingest/{kind}"]["post"]
    content = post["requestBody"]["content"]
    for media in ("application/json", "application/x-ndjson", "application/vnd.apache.parquet",
                  "application/vnd.apache.arrow.stream"):  # fmt: skip
        assert media in content
    assert {"401", "403", "404", "413"} <= set(post["responses"])
    kind = next(p for p in post["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == list(KINDS)
