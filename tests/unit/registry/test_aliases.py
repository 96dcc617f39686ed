"""Aliases on SQLite and PostgreSQL: the serving lookup, full history, served-at answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from recops.errors import InvalidInput, NotFound
from recops.registry import alias_history, remove_alias, resolve_alias, served_at, set_alias
from recops.registry.aliases import (
    AliasTarget,
    current_aliases,
    lookup_alias,
    states_at,
    version_windows,
    windows,
)
from recops.store import Store
from tests.unit.registry.helpers import T0, register


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(store_url)
    for version in ("1", "2", "3"):
        register(s, tmp_path, version)
    yield s
    s.close()


def test_resolve_follows_every_move_without_caching(store: Store) -> None:
    with pytest.raises(NotFound, match="no alias 'production'"):
        resolve_alias(store, "ranker", "production")
    set_alias(store, "ranker", "production", "1")
    assert resolve_alias(store, "ranker", "production") == ("1", "s3://models/ranker/1")
    set_alias(store, "ranker", "production", "2")
    assert resolve_alias(store, "ranker", "production") == ("2", "s3://models/ranker/2")
    remove_alias(store, "ranker", "production")
    with pytest.raises(NotFound):
        resolve_alias(store, "ranker", "production")
    with pytest.raises(NotFound, match=r"^no model 'rankr' in the registry"):  # a typo names the model
        resolve_alias(store, "rankr", "production")
    with pytest.raises(NotFound, match=r"^no model 'rankr' in the registry"):
        remove_alias(store, "rankr", "production")


def test_lookup_answers_version_artifact_and_since_together(store: Store) -> None:
    set_alias(store, "ranker", "production", "1", at=T0)
    assert lookup_alias(store, "ranker", "production") == AliasTarget("1", "s3://models/ranker/1", T0)
    moved = set_alias(store, "ranker", "production", "2", at=T0 + timedelta(hours=3))
    target = lookup_alias(store, "ranker", "production")
    assert moved is not None and target.since == moved.at == T0 + timedelta(hours=3)
    assert (target.version, target.artifact_uri) == resolve_alias(store, "ranker", "production")
    # Setting the version it already names is no move: since stays.
    assert set_alias(store, "ranker", "production", "2") is None
    assert lookup_alias(store, "ranker", "production").since == T0 + timedelta(hours=3)
    assert alias_history(store, "ranker", "production")[-1].at == target.since
    remove_alias(store, "ranker", "production")
    with pytest.raises(NotFound, match="no alias 'production'"):
        lookup_alias(store, "ranker", "production")


def test_history_windows_and_served_at(store: Store) -> None:
    h = [T0 + timedelta(hours=i) for i in range(6)]
    set_alias(store, "ranker", "production", "1", at=h[0], actor="deploy-bot")
    set_alias(store, "ranker", "canary", "2", at=h[1], reason="canary 10%")
    set_alias(store, "ranker", "production", "2", at=h[2])
    remove_alias(store, "ranker", "canary", at=h[2])
    set_alias(store, "ranker", "canary", "3", at=h[3])
    set_alias(store, "ranker", "production", "1", at=h[4], reason="rollback", override=True)
    events = alias_history(store, "ranker")
    assert [(e.alias, e.version, e.at) for e in events] == [
        ("production", "1", h[0]),
        ("canary", "2", h[1]),
        ("production", "2", h[2]),
        ("canary", None, h[2]),
        ("canary", "3", h[3]),
        ("production", "1", h[4]),
    ]
    assert events[-1].override and events[-1].reason == "rollback"
    expected = {
        h[0] - timedelta(seconds=1): {},
        h[0]: {"production": "1"},
        h[1] + timedelta(minutes=30): {"production": "1", "canary": "2"},
        h[2]: {"production": "2"},
        h[3]: {"production": "2", "canary": "3"},
        h[5]: {"production": "1", "canary": "3"},
    }
    for moment, aliases in expected.items():
        assert {s.alias: s.version for s in served_at(store, "ranker", moment)} == aliases, moment
    assert [(w.alias, w.start, w.end) for w in version_windows(store, "ranker", "2")] == [
        ("canary", h[1], h[2]),
        ("production", h[2], h[4]),
    ]
    assert [(w.alias, w.end) for w in version_windows(store, "ranker", "3")] == [("canary", None)]
    assert {s.alias: s.version for s in current_aliases(store, "ranker")} == {
        "production": "1",
        "canary": "3",
    }
    assert states_at(events, h[5]) == served_at(store, "ranker", h[5])
    assert len(windows(events)) == 5


def test_history_is_append_only_and_moves_are_checked(store: Store) -> None:
    set_alias(store, "ranker", "production", "1", at=T0 + timedelta(hours=5))
    with pytest.raises(InvalidInput, match="append-only"):
        set_alias(store, "ranker", "production", "2", at=T0)
    with pytest.raises(NotFound, match="no version ranker@9"):
        set_alias(store, "ranker", "production", "9")
    with pytest.raises(InvalidInput, match="override needs a reason"):
        set_alias(store, "ranker", "production", "2", override=True)
    with pytest.raises(InvalidInput, match="invalid alias"):
        set_alias(store, "ranker", "prod uction", "2")
    with pytest.raises(NotFound, match="no alias 'shadow'"):
        remove_alias(store, "ranker", "shadow")
    with pytest.raises(NotFound, match="no alias history"):
        served_at(store, "other", T0)
    assert set_alias(store, "ranker", "production", "1") is None  # already there: no new history
    assert len(alias_history(store, "ranker")) == 1
