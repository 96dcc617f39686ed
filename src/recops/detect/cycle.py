"""One detection cycle, as ``recops monitor run`` (and the server's scheduler) ends:
judge the new windows, check the dead man's switch for data, then notify."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recops.catalog import load_catalog
from recops.config import Config
from recops.detect.deadman import Silence, check_deadman
from recops.detect.grouping import GroupingRules
from recops.detect.notifiers import Transport
from recops.detect.routes import load_routes
from recops.detect.routing import DeliveryReport, dispatch
from recops.detect.run import DetectionReport, Progress, run_detection
from recops.lake import Lake
from recops.store import Store


@dataclass
class CycleReport:
    """What a cycle did: the detection pass, the silences measured, the notifications."""

    detection: DetectionReport
    silences: list[Silence]
    delivery: DeliveryReport

    def to_json(self) -> dict[str, Any]:
        return {
            "detection": self.detection.to_json(),
            "silences": [s.to_json() for s in self.silences],
            "delivery": self.delivery.to_dict(),
        }


def detection_cycle(
    store: Store,
    config: Config,
    *,
    rejudge_from: datetime | None = None,
    at: datetime | None = None,
    transport: Transport | None = None,
    progress: Progress | None = None,
    lake: Lake | None = None,
) -> CycleReport:
    """Detect over the stored series, check for silent data, and deliver what is due.

    Args:
        rejudge_from: judge again every window ending after this (after ``--from/--to``).
        at: the wall-clock time (default now); a simulation passes its own.
        transport: how notifications are sent (default HTTP).
        lake: where to learn which feature group each feature comes from (the keys of the
            feature rows), so a stale group's features' alerts join the group's; without
            it only features named after a configured group (``user_profile.age``) do.
    """
    catalog = load_catalog(config.root)
    rules = GroupingRules.for_workspace(config, lake=lake)
    detection = run_detection(
        store, config, catalog, rules=rules, rejudge_from=rejudge_from, at=at, progress=progress
    )
    measured, _, _ = check_deadman(store, config, at=at, monitor=False)
    delivery = dispatch(store, load_routes(config.root), at=at, transport=transport)
    return CycleReport(detection, measured, delivery)
