"""Small hand-written contract records for unit tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def request(request_id: str = "r1", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": request_id,
        "ts": "2026-11-24T13:00:00Z",
        "surface": "home_row",
        "user_id": "u1",
        "model": "ranker",
        "model_version": "v1",
        "status": "ok",
        "latency_ms": 12.5,
        "stage_latency_ms": {"ranking": 5, "candidate_generation": 4.5},
        "context": {"device": "tv", "country": "DE"},
        "features": {"tenure_days": 300, "genre": "drama", "missing": None},
        "feature_ts": {"user_profile": "2026-11-24T12:00:00+00:00"},
        "candidates": [
            {"item_id": "i1", "source": "trending", "score": 0.5, "position": 0, "propensity": 0.9},
            {"item_id": "i2", "source": "collaborative", "score": 0.2, "position": None},
        ],
    }
    record.update(overrides)
    return record


def write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path
