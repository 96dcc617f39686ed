"""Versions on SQLite and PostgreSQL: registered once, read back equal, never changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recops.errors import Conflict, InvalidInput, NotFound
from recops.registry import (
    CodeRef,
    EnvironmentRef,
    get_version,
    list_versions,
    record_validation,
    register_version,
)
from recops.registry.versions import validations
from recops.store import Store
from tests.unit.registry.helpers import register


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def test_register_and_read_back(store: Store, tmp_path: Path) -> None:
    code = CodeRef(
        repo="git@example.org:recs/ranker.git", commit="a" * 40, dirty=True, diff_digest="sha256:" + "b" * 64
    )
    env = EnvironmentRef(
        digest="sha256:" + "c" * 64, python="3.11.7", packages=("numpy==2.4.6", "pyarrow==26.0.1")
    )
    created = datetime(2026, 10, 3, 12, 30, 15, 123456, tzinfo=UTC)
    v = register(store, tmp_path, "v13", code=code, environment=env, created_at=created)
    again = get_version(store, "ranker", "v13")
    assert again == v
    assert again.created_at == created
    assert again.code == code and again.environment == env
    assert again.params == {"lr": 0.01, "depth": 6, "features": ["a", "b"]}
    assert again.metrics == {"ndcg_at_10": 0.41, "recall_at_50": 0.62}
    assert again.datasets[0].rows == 50 and str(again.datasets[0].upstream[0]) == "play_events:2026-10-01T00"
    # The record digest is the sha256 of the canonical JSON record, computed independently here.
    text = json.dumps(again.record(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert again.record_digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_registering_twice_is_refused_with_a_clear_message(store: Store, tmp_path: Path) -> None:
    first = register(store, tmp_path, "v1")
    with pytest.raises(Conflict) as caught:
        register_version(store, model="ranker", version="v1", artifact_uri="s3://other", params={"lr": 9})
    message = str(caught.value)
    assert "ranker@v1 is registered already" in message and "immutable" in message and "tester" in message
    assert get_version(store, "ranker", "v1") == first  # unchanged


def test_next_version_number_and_listing(store: Store, tmp_path: Path) -> None:
    a = register_version(store, model="m", artifact_uri="s3://a")
    b = register_version(store, model="m", artifact_uri="s3://b")
    register_version(store, model="m", version="exp-7", artifact_uri="s3://c")
    c = register_version(store, model="m", artifact_uri="s3://d")
    assert (a.version, b.version, c.version) == ("1", "2", "3")
    assert [v.version for v in list_versions(store, "m")] == ["3", "exp-7", "2", "1"]
    assert len(list_versions(store)) == 4


def test_local_artifact_is_digested_and_checked(store: Store, tmp_path: Path) -> None:
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights" * 100)
    expected = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    v = register_version(store, model="m", version="1", artifact_uri=str(artifact))
    assert v.artifact_digest == expected
    with pytest.raises(InvalidInput, match="digest mismatch"):
        register_version(
            store, model="m", version="2", artifact_uri=artifact.as_uri(), artifact_digest="sha256:00"
        )


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"model": "bad@name"}, "invalid model name"),
        ({"version": "has space"}, "invalid version"),
        ({"metrics": {"auc": float("nan")}}, "finite"),
        ({"metrics": {"auc": "high"}}, "must be a number"),
        ({"params": {"f": object()}}, "cannot store value as JSON"),
        ({"artifact_uri": " "}, "artifact_uri is required"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    store: Store, fields: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"model": "m", "version": "1", "artifact_uri": "s3://x", **fields}
    with pytest.raises(InvalidInput, match=match):
        register_version(store, **args)  # type: ignore[arg-type]
    assert list_versions(store) == []


def test_validations_attach_and_missing_versions(store: Store, tmp_path: Path) -> None:
    register(store, tmp_path, "1")
    record_validation(
        store, "ranker", "1", name="offline-ndcg", passed=True, details={"ndcg": 0.41}, origin="ci"
    )
    record_validation(store, "ranker", "1", name="canary-ctr", passed=False, details={"ctr_delta": -0.03})
    results = validations(store, "ranker", "1")
    assert [(r.name, r.passed, r.details) for r in results] == [
        ("offline-ndcg", True, {"ndcg": 0.41}),
        ("canary-ctr", False, {"ctr_delta": -0.03}),
    ]
    with pytest.raises(NotFound, match="no version ranker@9; latest: 1"):
        record_validation(store, "ranker", "9", name="x", passed=True)
    with pytest.raises(NotFound, match="no model 'nope'"):
        get_version(store, "nope", "1")
