"""Outcomes: an impression per shown item, clicks from the click model, and what
follows a click (play, complete, like, dislike, add_to_list).

Most clicks come within a minute; a tail comes hours or days later (late labels).
Outcomes that would happen after the world ends are not in it (not yet observed).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recops.contract import OUTCOMES
from recops.sim import _arrow as A
from recops.sim._clock import DAY, HOUR, MINUTE, SECOND
from recops.sim._plan import Plan
from recops.sim._platform import EVENTS, Population
from recops.sim._requests import Served

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

P_PLAY = 0.75
P_COMPLETE = 0.35
P_LIKE = 0.10
P_DISLIKE = 0.02
P_ADD_TO_LIST = 0.30  # of clicks not followed by a play


def click_delay_ms(rng: np.random.Generator, n: int) -> I64:
    """Time from impression to click: seconds mostly, a tail of hours to days."""
    u = rng.random(n)
    fast = rng.lognormal(np.log(20 * SECOND), 0.9, n)
    later = rng.lognormal(np.log(25 * MINUTE), 0.8, n)
    late = rng.lognormal(np.log(8 * HOUR), 1.0, n)
    delay = np.where(u < 0.88, fast, np.where(u < 0.97, later, late))
    return np.minimum(delay, 7 * DAY).astype(np.int64)


def make_outcomes(plan: Plan, pop: Population, served: Served, rng: np.random.Generator) -> pa.Table:
    """The outcomes table, sorted by time."""
    code = {name: i for i, name in enumerate(EVENTS)}
    n_imp = len(served.imp_request)
    imp_ts = served.ts[served.imp_request] + (150 + rng.lognormal(np.log(600), 0.6, n_imp)).astype(np.int64)
    parts_idx: list[I64] = [np.arange(n_imp)]
    parts_event: list[I64] = [np.full(n_imp, code["impression"])]
    parts_ts: list[I64] = [imp_ts]
    parts_value: list[F64] = [np.full(n_imp, np.nan)]

    def add(idx: I64, event: str, ts: I64, value: F64 | None = None) -> None:
        parts_idx.append(idx)
        parts_event.append(np.full(len(idx), code[event]))
        parts_ts.append(ts)
        parts_value.append(np.full(len(idx), np.nan) if value is None else value)

    clicked = np.nonzero(rng.random(n_imp) < served.p_click)[0]
    click_ts = imp_ts[clicked] + click_delay_ms(rng, len(clicked))
    add(clicked, "click", click_ts)

    plays = rng.random(len(clicked)) < P_PLAY
    p_idx = clicked[plays]
    play_ts = click_ts[plays] + rng.integers(SECOND, 6 * SECOND, len(p_idx))
    runtime = pop.item_runtime_s[served.imp_item[p_idx]].astype(np.float64)
    complete = rng.random(len(p_idx)) < P_COMPLETE
    fraction = np.where(complete, 1.0, rng.beta(1.2, 3.0, len(p_idx)))
    watched = np.asarray(np.round(runtime * fraction, 1), dtype=np.float64)
    add(p_idx, "play", play_ts, watched)
    end_ts = play_ts + (watched * SECOND).astype(np.int64)
    add(p_idx[complete], "complete", end_ts[complete], watched[complete])
    opinion = rng.random(len(p_idx))
    after = end_ts + rng.integers(5 * SECOND, 60 * SECOND, len(p_idx))
    liked = opinion < P_LIKE
    disliked = (opinion >= P_LIKE) & (opinion < P_LIKE + P_DISLIKE)
    add(p_idx[liked], "like", after[liked])
    add(p_idx[disliked], "dislike", after[disliked])
    listed = ~plays & (rng.random(len(clicked)) < P_ADD_TO_LIST)
    add(
        clicked[listed],
        "add_to_list",
        click_ts[listed] + rng.integers(2 * SECOND, 20 * SECOND, int(listed.sum())),
    )

    idx = np.concatenate(parts_idx)
    ts = np.concatenate(parts_ts)
    keep = ts < plan.end_ms
    order = np.nonzero(keep)[0][np.argsort(ts[keep], kind="stable")]
    idx, ts = idx[order], ts[order]
    event = np.concatenate(parts_event)[order]
    value = np.concatenate(parts_value)[order]
    table = pa.table(
        {
            "request_id": served.request_ids.take(pa.array(served.imp_request[idx])),
            "item_id": A.pick(pop.item_ids, served.imp_item[idx]),
            "ts": A.times(ts),
            "event": A.pick(A.vocab(EVENTS), event),
            "value": A.floats(value, np.isnan(value)),
        }
    )
    return table.cast(OUTCOMES.schema)
