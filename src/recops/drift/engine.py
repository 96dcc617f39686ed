"""What the engines share: the options of a run and the one signature callers use.

``local.run`` and ``spark.run`` take the same arguments and return the same thing. Each
engine writes only its ``count(kinds, reference, current, options)``; ``Engine(count).run``
gives it the keyword signature ``compare`` and ``profile`` call, written here once. An
engine that hands part of the work to another passes its ``Options`` on (changed with
``dataclasses.replace``) instead of repeating the keywords.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from recops.drift.counting import Segments
from recops.drift.counts import ColumnCounts
from recops.drift.profile import Profile
from recops.drift.sources import Source

#: Called with (columns done, columns in all) after each unit of work.
Progress = Callable[[int, int], None]
#: Called with a column's name and its reference and current counts as soon as both are known.
Counted = Callable[[str, ColumnCounts, ColumnCounts], None]
#: The reference's profile and the current window's (None without a current window).
Profiles = tuple[Profile, Profile | None]


@dataclass(frozen=True)
class Options:
    """How to profile and count (see ``Engine.run`` for each field)."""

    top_k: int
    exact: bool = False
    quantiles: bool = False
    segment: str | None = None
    max_segments: int = 50
    workers: int | None = None
    progress: Progress | None = None
    counted: Counted | None = None


#: An engine's work: profile the reference unless it is a profile, count the current against it.
Count = Callable[[Mapping[str, str], Source | Profile, Source | None, Options], Profiles]


@dataclass(frozen=True)
class Engine:
    """An engine's ``count`` behind the keyword signature every caller uses."""

    count: Count

    def run(
        self,
        kinds: Mapping[str, str],
        reference: Source | Profile,
        current: Source | None,
        *,
        top_k: int,
        exact: bool = False,
        quantiles: bool = False,
        segment: str | None = None,
        max_segments: int = 50,
        workers: int | None = None,
        progress: Progress | None = None,
        counted: Counted | None = None,
    ) -> Profiles:
        """Profile the reference (unless it is one already) and count the current window against it.

        Args:
            kinds: the columns to compare, each ``numeric`` or ``categorical``.
            reference: the reference window, or its stored profile.
            current: the current window (None: only profile the reference).
            top_k: categories tracked per categorical column.
            exact: one bin per distinct value of both windows (both must be data).
            quantiles: keep KLL sketches of numeric columns (for a stored profile).
            segment: also count within each value of this column.
            max_segments: track at most this many segment values (the largest).
            workers: threads for local work (default: the CPU count, at most 8).
            progress: called with (columns done, columns in all) after each unit of work.
            counted: called on the caller's thread with each column's two counts as soon as
                both are known, while other columns are still being counted (an engine may
                also never call it: the returned profiles hold every column either way).

        Returns:
            the reference profile and the current window's profile (None without a current).
        """
        options = Options(
            top_k=top_k, exact=exact, quantiles=quantiles, segment=segment, max_segments=max_segments,
            workers=workers, progress=progress, counted=counted,
        )  # fmt: skip
        return self.count(kinds, reference, current, options)


def profile_segments(profile: Profile) -> Segments | None:
    """The segments a reference profile tracks (None when it was built without ``--segment``)."""
    if not profile.segment_key:
        return None
    return Segments(profile.segment_key, tuple(profile.segment_rows))
