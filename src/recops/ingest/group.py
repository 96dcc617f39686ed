"""Group commit: bodies that arrive while a batch is being written share the next batch.

A server receives many small bodies at once (every serving replica posts its own). Each
batch pays a fixed cost (the lake writer lock, the key scan against the lake, new Parquet
files, one catalog transaction), so committing bodies one by one caps throughput at that
cost no matter how many clients send. Here the first caller to find no batch in flight
becomes the leader: it takes every body queued so far (up to a size budget), ingests them
as one atomic batch with :func:`recops.ingest.pipeline.ingest_bodies`, and hands each
caller its own report. Callers that arrive meanwhile queue for the next batch. A lone
caller is never delayed: with nothing in flight it commits at once, alone.

No thread of its own: the callers' threads (a web server's thread pool) take turns
leading, so there is nothing to start, stop or leak.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from recops.errors import InvalidInput
from recops.ingest.pipeline import BATCH_BYTES, Body, IngestReport, ingest_bodies
from recops.lake import Lake

Result = IngestReport | InvalidInput
Committer = Callable[[Sequence[Body]], list[Result]]


@dataclass(eq=False)
class _Slot:
    body: Body
    size: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit:
    """Ingest bodies of one record kind, concurrent ones committed together.

    Args:
        lake: the lake to write.
        kind: the record kind of every body.
        max_bytes: the most body bytes one batch takes (a larger body goes alone).
        origin: the ``origin`` recorded on the batches.
        committer: what ingests a group (the pipeline by default; tests pass their own).
    """

    def __init__(
        self,
        lake: Lake,
        kind: str,
        *,
        max_bytes: int = BATCH_BYTES,
        origin: str = "http",
        committer: Committer | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._commit: Committer = committer or (
            lambda bodies: ingest_bodies(lake, kind, bodies, origin=origin)
        )
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._leading = False
        self.batches = 0  # batches committed
        self.bodies = 0  # bodies committed in them

    def submit(self, body: Body) -> IngestReport:
        """Ingest one body; returns once the batch holding it is committed.

        Raises:
            InvalidInput: the body cannot be read as records of the kind.
        """
        slot = _Slot(body, body.path.stat().st_size)
        with self._cond:
            self._queue.append(slot)
        while True:  # wait for a batch to take this body, or lead one (maybe several)
            with self._cond:
                while self._leading and not slot.done.is_set():
                    self._cond.wait()
                if slot.done.is_set():
                    break
                self._leading = True
                group = self._take()
            self._lead(group)
        if slot.error is not None:
            raise slot.error
        if isinstance(slot.result, InvalidInput):
            raise slot.result
        assert slot.result is not None
        return slot.result

    def _take(self) -> list[_Slot]:
        """The queued slots that fit the byte budget, oldest first (at least one)."""
        group: list[_Slot] = []
        size = 0
        while self._queue and (not group or size + self._queue[0].size <= self.max_bytes):
            slot = self._queue.pop(0)
            group.append(slot)
            size += slot.size
        return group

    def _lead(self, group: list[_Slot]) -> None:
        try:
            results = self._commit([slot.body for slot in group])
            for slot, result in zip(group, results, strict=True):
                slot.result = result
        except BaseException as exc:  # the whole batch failed: every caller in it learns why
            for slot in group:
                slot.error = exc
        finally:
            with self._cond:
                self.batches += 1
                self.bodies += len(group)
                self._leading = False
                for slot in group:
                    slot.done.set()
                self._cond.notify_all()
