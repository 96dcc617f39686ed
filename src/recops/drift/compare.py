"""``compare`` and ``profile``: the drift engine's entry points.

``compare(reference, current)`` decides which columns to compare and as what, has an
engine profile the reference (or takes a stored profile) and count the current window
against the reference's binning, then applies the rules column by column and per
segment. The statistics only ever see counts (``stats/``), so the verdicts do not depend
on the engine.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from recops.drift import local
from recops.drift.counting import column_kind
from recops.drift.counts import CATEGORICAL, NUMERIC, ColumnCounts, empty_counts
from recops.drift.profile import Profile
from recops.drift.report import ColumnResult, DriftReport, SegmentResult
from recops.drift.rules import MISSING, SKIPPED, Rules, run_tests
from recops.drift.sources import ArrowSource, Source, open_input
from recops.drift.stats.base import ColumnPair
from recops.errors import InvalidInput

Input = Any  # a Source, Profile, Arrow table, path, Spark DataFrame or Ibis table
Progress = Callable[[int, int], None]


def _as_input(value: Any) -> Any:
    if isinstance(value, Profile):
        return value
    if isinstance(value, pa.Table):
        return ArrowSource(value)
    if isinstance(value, str | Path):
        return open_input(str(value))
    if hasattr(value, "read") and hasattr(value, "schema") and hasattr(value, "rows"):
        return value
    from recops.drift import spark

    if spark.is_spark_input(value):
        return spark.SparkSource.wrap(value)
    if type(value).__module__.startswith("ibis.expr"):
        from recops.drift.sources import IbisSource

        return IbisSource(value)
    raise InvalidInput(f"cannot compare a {type(value).__name__}; give a path, an Arrow table or a profile")


def plan_columns(
    reference: Source | Profile,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    segment: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The columns to compare with their kinds, and the columns skipped with the reason.

    Raises:
        InvalidInput: a named column does not exist or cannot be compared.
    """
    forced = set(categorical)
    skipped: dict[str, str] = {}
    kinds: dict[str, str] = {}
    if isinstance(reference, Profile):
        kinds = reference.kinds()
        skipped = dict(reference.skipped)
        available = set(kinds) | set(skipped) | ({reference.segment_key} if reference.segment_key else set())
        for name in forced:
            if name in kinds and kinds[name] != CATEGORICAL:
                raise InvalidInput(f"--categorical {name}: the stored profile counts it as {kinds[name]}")
    else:
        for field in reference.schema:
            kind = column_kind(field.type)
            if field.name in forced and kind is not None:
                kind = CATEGORICAL
            if kind is None:
                skipped[field.name] = f"type {field.type} is not compared"
            else:
                kinds[field.name] = kind
        available = set(reference.schema.names)
    for name in forced:
        if name not in available:
            raise InvalidInput(f"--categorical {name}: no such column in the reference")
    if segment is not None:
        if segment not in available:
            raise InvalidInput(f"--segment {segment}: no such column in the reference")
        kinds.pop(segment, None)
        skipped.pop(segment, None)
    if columns:
        unknown = [c for c in columns if c not in available]
        if unknown:
            raise InvalidInput(f"no such column in the reference: {', '.join(unknown)}")
        bad = [c for c in columns if c in skipped]
        if bad:
            raise InvalidInput(f"cannot compare {', '.join(f'{c} ({skipped[c]})' for c in bad)}")
        kinds = {c: kinds[c] for c in columns if c in kinds}
        skipped = {}
    if not kinds:
        raise InvalidInput("no columns to compare")
    return kinds, skipped


def profile(
    data: Input,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    segment: str | None = None,
    top_k: int | None = None,
    max_segments: int = 50,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Profile:
    """A reference profile of ``data``: binnings, exact counts and sketches per column."""
    source = _as_input(data)
    if isinstance(source, Profile):
        return source
    kinds, skipped = plan_columns(source, columns=columns, categorical=categorical, segment=segment)
    result, _ = _engine(source).run(
        kinds,
        source,
        None,
        top_k=top_k or Rules().top_k,
        quantiles=True,
        segment=segment,
        max_segments=max_segments,
        workers=workers,
        progress=progress,
    )
    profiled: Profile = result
    profiled.skipped = skipped
    return profiled


def compare(
    reference: Input,
    current: Input,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    segment: str | None = None,
    rules: Rules | None = None,
    exact: bool = False,
    max_segments: int = 50,
    keep_sketches: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DriftReport:
    """Compare the current window with the reference, column by column (and per segment).

    Args:
        reference: a path, an Arrow table, a ``Source``, a Spark DataFrame or a stored ``Profile``.
        current: the same kinds of thing (a profile only if counted against ``reference``).
        columns: compare only these (default: every column of a supported type).
        categorical: compare these numeric columns as categories (ids, codes).
        segment: also compare within each value of this column.
        rules: verdict rules (default: ``Rules()``).
        exact: exact KS and Wasserstein (one bin per distinct value; both windows must
            be data, and each numeric column of both must fit in memory).
        max_segments: track at most this many segment values (the largest).
        keep_sketches: build the KLL sketches a stored reference profile carries.
        workers: threads for the local engine (default: the CPU count, at most 8).
        progress: called with (columns done, columns in all) after each unit of work.

    Raises:
        InvalidInput: unreadable inputs, unknown columns, or a profile as input to exact mode.
    """
    rules = rules or Rules()
    started = time.perf_counter()
    ref = _as_input(reference)
    cur = _as_input(current)
    if exact and (isinstance(ref, Profile) or isinstance(cur, Profile)):
        raise InvalidInput("exact mode needs both windows as data, not stored profiles")
    if isinstance(ref, Profile) and segment is not None and ref.segment_key != segment:
        raise InvalidInput(
            f"--segment {segment}: the stored profile was built "
            + (f"with --segment {ref.segment_key}" if ref.segment_key else "without segments")
        )
    kinds, skipped = plan_columns(ref, columns=columns, categorical=categorical, segment=segment)
    if isinstance(ref, Profile) and segment is None and ref.segment_key is not None:
        ref = _without_segments(ref)
    missing = _missing_in_current(kinds, cur)
    compared = {name: kind for name, kind in kinds.items() if name not in missing}
    if segment is not None and not isinstance(cur, Profile) and segment not in cur.schema.names:
        raise InvalidInput(f"--segment {segment}: no such column in the current window")
    timings: dict[str, float] = {"plan": time.perf_counter() - started}

    counted = time.perf_counter()
    # Columns are judged as their counts arrive, on this thread, while the engine counts the rest.
    judged_early: dict[str, tuple[ColumnPair, ColumnResult]] = {}

    def judge_early(name: str, ref_counts: ColumnCounts, cur_counts: ColumnCounts) -> None:
        pair = ColumnPair(name, compared[name], ref_counts.binning, ref_counts.counts, cur_counts.counts)
        judged_early[name] = pair, _judge(pair, rules)

    if isinstance(cur, Profile):
        ref_profile = (
            ref if isinstance(ref, Profile) else profile(ref, columns=list(compared), segment=segment)
        )
        cur_profile = cur
        _check_same_binnings(ref_profile, cur_profile, compared)
    else:
        engine = _engine(ref, cur)
        ref_profile, maybe_cur = engine.run(
            compared,
            ref,
            cur,
            top_k=rules.top_k,
            exact=exact,
            quantiles=keep_sketches,
            segment=segment,
            max_segments=max_segments,
            workers=workers,
            progress=progress,
            counted=judge_early,
        )
        assert maybe_cur is not None
        cur_profile = maybe_cur
    ref_profile.skipped = (
        {**skipped, **ref_profile.skipped} if not isinstance(ref, Profile) else ref_profile.skipped
    )
    timings["count"] = time.perf_counter() - counted

    judged = time.perf_counter()
    report = DriftReport(
        reference=_describe(ref),
        current=_describe(cur),
        columns=[],
        rules=rules,
        skipped={n: r for n, r in skipped.items() if not columns},
        new_columns=_new_columns(ref, cur, kinds, skipped, segment),
        exact=exact,
        reference_profile=ref_profile,
    )
    for name, kind in kinds.items():
        if name in missing:
            report.columns.append(ColumnResult(name, kind, MISSING, note=missing[name]))
            continue
        if name in judged_early:
            pair, result = judged_early[name]
        else:
            pair = ColumnPair(
                name, kind, ref_profile.columns[name].binning, ref_profile.columns[name].counts,
                cur_profile.columns[name].counts,
            )  # fmt: skip
            result = _judge(pair, rules)
        report.pairs[name] = pair
        report.columns.append(result)
    if ref_profile.segment_key is not None and segment is not None:
        report.segment_key = segment
        report.untracked_segment_rows = cur_profile.other_segment_rows
        for value, ref_rows in ref_profile.segment_rows.items():
            ref_counts = ref_profile.segments.get(value, {})
            cur_counts = cur_profile.segments.get(value, {})
            results = [
                _judge(_segment_pair(name, kind, ref_profile.columns[name], ref_counts, cur_counts), rules)
                for name, kind in compared.items()
            ]
            report.segments.append(
                SegmentResult(value, ref_rows, cur_profile.segment_rows.get(value, 0), results)
            )
    timings["judge"] = time.perf_counter() - judged
    timings["total"] = time.perf_counter() - started
    report.timings = timings
    return report


def _engine(*inputs: Source | Profile) -> Any:
    # A SparkSource exists only once its module is imported (``_as_input`` does that for
    # Spark inputs): files and Arrow tables do not pay for importing the Spark engine.
    spark = sys.modules.get("recops.drift.spark")
    if spark is not None and any(isinstance(i, spark.SparkSource) for i in inputs):
        return spark
    return local


def _describe(value: Source | Profile) -> str:
    if isinstance(value, Profile):
        return f"profile of {value.source}" if value.source else "stored profile"
    return value.description


def _without_segments(reference: Profile) -> Profile:
    return Profile(
        columns=reference.columns, rows=reference.rows, source=reference.source, created=reference.created,
        skipped=reference.skipped,
    )  # fmt: skip


def _missing_in_current(kinds: Mapping[str, str], current: Source | Profile) -> dict[str, str]:
    missing: dict[str, str] = {}
    if isinstance(current, Profile):
        for name, kind in kinds.items():
            if name not in current.columns:
                missing[name] = "not in the current profile"
            elif current.columns[name].kind != kind:
                missing[name] = f"counted as {current.columns[name].kind} in the current profile"
        return missing
    schema = current.schema
    for name, kind in kinds.items():
        if name not in schema.names:
            missing[name] = "not in the current window"
            continue
        now = column_kind(schema.field(name).type)
        if now is None or (now == CATEGORICAL and kind == NUMERIC):
            missing[name] = f"type changed to {schema.field(name).type}"
    return missing


def _new_columns(
    ref: Source | Profile, cur: Source | Profile, kinds: Mapping[str, str], skipped: Mapping[str, str],
    segment: str | None,
) -> list[str]:  # fmt: skip
    known = set(kinds) | set(skipped) | {segment}
    if isinstance(ref, Profile):
        known |= set(ref.columns) | set(ref.skipped)
    else:
        known |= set(ref.schema.names)
    names = list(cur.columns) if isinstance(cur, Profile) else list(cur.schema.names)
    return [n for n in names if n not in known]


def _check_same_binnings(ref: Profile, cur: Profile, kinds: Mapping[str, str]) -> None:
    for name in kinds:
        if ref.columns[name].binning != cur.columns[name].binning:
            raise InvalidInput(
                f"column {name}: the current profile was not counted against this reference "
                "(different bins); compare against the data instead"
            )


def _segment_pair(
    name: str,
    kind: str,
    overall: ColumnCounts,
    ref_counts: Mapping[str, ColumnCounts],
    cur_counts: Mapping[str, ColumnCounts],
) -> ColumnPair:
    binning = overall.binning
    ref = ref_counts[name].counts if name in ref_counts else empty_counts(binning)
    cur = cur_counts[name].counts if name in cur_counts else empty_counts(binning)
    return ColumnPair(name, kind, binning, ref, cur)


def _judge(pair: ColumnPair, rules: Rules) -> ColumnResult:
    verdict, results = run_tests(pair, rules)
    primary = next(r for r in results if r.name == rules.test(pair.kind))
    return ColumnResult(
        column=pair.name,
        kind=pair.kind,
        verdict=verdict,
        test=primary.name,
        statistic=primary.value,
        threshold=primary.threshold,
        results=results,
        reference_rows=pair.reference.rows,
        current_rows=pair.current.rows,
        reference_missing=pair.reference.missing,
        current_missing=pair.current.missing,
        note=_note(verdict, results),
    )


def _note(verdict: str, results: Sequence[Any]) -> str:
    if verdict == SKIPPED:
        return ""
    flagged = [r.name for r in results if r.deciding and r.status == "drift"]
    if flagged == ["null_rate"]:
        return "null rate changed"
    if "null_rate" in flagged:
        return "also: null rate changed"
    return ""
