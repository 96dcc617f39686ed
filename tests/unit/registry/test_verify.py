"""The audit chain on SQLite and PostgreSQL: rows edited, deleted and cut in the database are named."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from recops.registry import record_validation, set_alias, verify
from recops.registry.audit import GENESIS, entries, entry_hash
from recops.store import Store
from tests.unit.registry.helpers import register


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """A registry whose audit log has 8 entries."""
    s = Store(store_url)
    for version in ("1", "2", "3"):  # 1-3
        register(s, tmp_path, version)
    set_alias(s, "ranker", "production", "1")  # 4
    record_validation(s, "ranker", "2", name="offline", passed=True)  # 5
    set_alias(s, "ranker", "canary", "2")  # 6
    set_alias(s, "ranker", "production", "2", reason="promote")  # 7
    record_validation(s, "ranker", "3", name="offline", passed=False)  # 8
    yield s
    s.close()


def sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def kinds(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in verify(store).problems:
        out.setdefault(p.kind, []).append(p.message)
    return out


def test_intact_log_verifies_and_chains_independently(store: Store) -> None:
    report = verify(store)
    assert report.ok and report.entries == 8 and report.head_seq == 8 and report.versions == 3
    prev = GENESIS
    for e in entries(store):
        payload = json.dumps(e.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # Recompute each link by hand from the documented formula.
        material = json.dumps(
            [e.seq, e.at.isoformat(timespec="microseconds").replace("+00:00", "Z"), e.actor, e.action,
             e.subject, payload, prev],
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )  # fmt: skip
        assert e.prev_hash == prev
        assert (
            e.hash
            == hashlib.sha256(material.encode()).hexdigest()
            == entry_hash(e.seq, e.at, e.actor, e.action, e.subject, payload, prev)
        )
        prev = e.hash


def test_an_edited_entry_is_named(store: Store) -> None:
    sql(
        store,
        "UPDATE audit_log SET payload = replace(payload, :a, :b) WHERE seq = 5",
        a='"passed":true',
        b='"passed":false',
    )
    found = kinds(store)
    assert any("entry #5 (validation.record ranker@2) was edited" in m for m in found["edited"])
    assert any("differs from audit entry #5" in m for m in found["validation"])


def test_an_entry_rewritten_with_a_fresh_hash_is_named(store: Store) -> None:
    e = next(x for x in entries(store) if x.seq == 6)
    payload = json.dumps({**e.payload, "version": "3"}, sort_keys=True, separators=(",", ":"))
    forged = entry_hash(e.seq, e.at, e.actor, e.action, e.subject, payload, e.prev_hash)
    sql(store, "UPDATE audit_log SET payload = :p, hash = :h WHERE seq = 6", p=payload, h=forged)
    found = kinds(store)
    assert any("entry #6 was edited and re-hashed" in m for m in found["edited"])


def test_a_deleted_entry_is_named(store: Store) -> None:
    sql(store, "DELETE FROM audit_log WHERE seq = 4")
    found = kinds(store)
    assert found["deleted"] == ["entry #4 is missing (deleted) before entry #5"]
    assert any("has no audit entry" in m for m in found["alias_history"])


def test_a_cut_tail_is_named(store: Store) -> None:
    sql(store, "DELETE FROM audit_log WHERE seq >= 7")
    found = kinds(store)
    assert found["cut_tail"] == [
        "entries #7–#8 are missing (cut) after entry #6: the head says the log ends at #8 (tail cut)"
    ]


def test_version_rows_changed_behind_the_log_are_named(store: Store) -> None:
    sql(store, "UPDATE registry_versions SET metrics = :m WHERE version = '2'", m='{"ndcg_at_10":0.99}')
    sql(
        store,
        "UPDATE registry_inputs SET rows = 1 "
        "WHERE version_id = (SELECT id FROM registry_versions WHERE version = '3')",
    )
    found = kinds(store)
    changed = found["version_changed"]
    assert len(changed) == 2 and any("ranker@2 was changed" in m for m in changed)
    assert any("ranker@3 was changed" in m for m in changed)


def test_alias_pointer_changed_behind_the_log_is_named(store: Store) -> None:
    sql(store, "UPDATE registry_aliases SET version = '3' WHERE alias = 'production'")
    found = kinds(store)
    assert found["alias_current"] == ["alias ranker:production points to 3 but its history says 2"]


def test_deleted_version_and_validation_rows_are_named(store: Store) -> None:
    sql(store, "DELETE FROM registry_validations WHERE name = 'offline' AND passed = false")
    found = kinds(store)
    assert found["validation"] == ["validation 'offline' of ranker@3 (entry #8) is missing"]


def test_concurrent_writers_keep_one_chain(store_url: str) -> None:
    """Two writers with their own engines (as two processes would) never fork the chain."""
    import threading

    from recops.registry import register_version

    stores = [Store(store_url), Store(store_url)]
    errors: list[BaseException] = []

    def write(s: Store, n: int) -> None:
        try:
            for _ in range(n):
                v = register_version(s, model="m", artifact_uri="s3://x")  # the next integer, under the lock
                set_alias(s, "m", "production", v.version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, 8)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify(stores[0])
    assert report.ok and report.entries == 32 and report.versions == 16
    assert sorted(
        int(e.subject.split("@")[1]) for e in entries(stores[0], action="version.register")
    ) == list(range(1, 17))
    for s in stores:
        s.close()
