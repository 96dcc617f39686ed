"""Training side of the SDK: ``recops.sdk.track_training``.

The registry (SQLAlchemy, the store) is imported when a training run starts, never when
``recops.sdk`` is imported, so a serving process that embeds the logger stays light.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any


def track_training(model: str, **options: Any) -> AbstractContextManager[Any]:
    """Track a training run; register its version when the ``with`` block succeeds.

    Captures the code (git) and the environment automatically; log datasets, params,
    metrics and the artifact on the yielded run. A failed block records the failed run.
    Options are those of :func:`recops.registry.track_training` (``version``,
    ``workspace``, ``code_path``, ``tags``, ``created_by``...).

    Example:
        with track_training(model="ranker", workspace="ops") as run:
            run.log_dataset("data/train.parquet", role="train", time_column="ts")
            run.log_params({"lr": 0.05})
            run.log_metrics({"ndcg_at_10": 0.41})
            run.log_artifact("s3://models/ranker/42", digest="sha256:...")
    """
    from recops.registry.tracking import track_training as track

    return track(model, **options)
