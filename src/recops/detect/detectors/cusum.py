"""CUSUM on the residual from the seasonal baseline: sustained shifts, not single spikes.

The tabular (two-sided) CUSUM of Page (1954), in the standard parameterization on
standardized residuals (see :mod:`recops.detect.detectors.changepoint` for the long-run
scale s, clipping, cap and restart): d = clip(z / s), g⁺ ← max(0, g⁺ + d − k),
g⁻ ← max(0, g⁻ − d − k), alarm while a bad side's g ≥ h. It assumes the baseline is
right (residuals centre on 0), so it is the fastest way to notice that a series has
moved off its usual weekly shape and stayed there.

Defaults and their false-alarm behavior on white noise (s = 1; Siegmund's
approximation, checked by simulation in the tests):

| k | h | ARL₀ one-sided | ARL₀ two-sided | delay, 1 sd shift | 2 sd | 3 sd |
|---|---|---|---|---|---|---|
| 0.5 | 4 | 338 | ≈170 | 8.3 | 3.2 | 2.0 |
| 0.5 | 5 | 938 | ≈470 | 10.3 | 3.9 | 2.4 |
| **0.5** | **8** | **19,100** | **≈9,600** | **16.3** | **5.9** | **3.6** |
| 0.5 | 10 | 141,000 | ≈70,700 | 20.3 | 7.2 | 4.4 |

(ARL: average run length in windows; delays are one-sided ARLs under the shift, in
units of s; clipping d at 4 changes them by less than a window.)
The textbook h = 4 or 5 raises a false alarm every one to three weeks of hourly windows
*per series*; h = 8 keeps it to about one per 13 months of hourly windows per series
(one per 33 days of 5-minute windows: feed hourly points, or raise h to 10), for a delay
of 16 windows on a shift as small as one residual sd. Over 10 white-noise series of
2,000 windows (20,000 windows) that is about 2 false alarms.

Score: g − h (in s) while alarmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recops.detect.detectors.changepoint import ChangePointDetector, ChangePointParams


@dataclass(frozen=True)
class CusumParams(ChangePointParams):
    """Parameters of :class:`Cusum` (all shared with the other change-point detector;
    :class:`~recops.detect.detectors.changepoint.ChangePointParams` documents each one).
    """


class Cusum(ChangePointDetector):
    """Two-sided tabular CUSUM on the seasonal residual (see the module docstring)."""

    name: ClassVar[str] = "cusum"
    learn_level: ClassVar[bool] = False

    def __init__(self, params: CusumParams | None = None) -> None:
        super().__init__(params or CusumParams())

    @property
    def params(self) -> CusumParams:
        assert isinstance(self._params, CusumParams)
        return self._params
