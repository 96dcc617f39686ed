"""Page–Hinkley on the residual: a shift relative to the series' own recent level.

The Page–Hinkley test (Page 1954, Hinkley 1971; as used for concept drift, e.g. Gama et
al. 2014) accumulates deviations from the *estimated* mean of the series:
m_T = Σ (d_t − k) with d_t = (z_t − μ̂) / s, and alarms when m_T − min_{t≤T} m_t ≥ h
(the mirror image for decreases). That difference is the recursive sum
g ← max(0, g + d − k), so with a known mean it would be CUSUM; what makes it
Page–Hinkley is that μ̂ is learned (see :mod:`recops.detect.detectors.changepoint`):
the mean of the first ``min_instances`` residuals (status ``insufficient`` meanwhile),
then a running mean over ``memory`` windows that stops learning while alarmed.

So Page–Hinkley shrugs off a baseline that is off by a constant (a slice whose seasonal
baseline runs a little high, where CUSUM would alarm after a few hundred windows) and
still catches a change relative to the recent level. Its false-alarm behavior on white
noise is CUSUM's with the same k and h (two-sided ARL₀ ≈ 9,600 windows at k = 0.5,
h = 8) plus the error of μ̂: after the 100-window warm-up μ̂ is within about 0.1 sd,
which shortens the ARL₀ on one side at first and not at all once μ̂ has 1,000 windows
(the tests measure it on 10 × 2,000 white-noise windows). Score: g − h (in s) while
alarmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recops.detect.detectors.changepoint import ChangePointDetector, ChangePointParams


@dataclass(frozen=True)
class PageHinkleyParams(ChangePointParams):
    """Parameters of :class:`PageHinkley` (all shared with the other change-point detector;
    :class:`~recops.detect.detectors.changepoint.ChangePointParams` documents each one).
    """


class PageHinkley(ChangePointDetector):
    """Two-sided Page–Hinkley test on the seasonal residual (see the module docstring)."""

    name: ClassVar[str] = "page_hinkley"
    learn_level: ClassVar[bool] = True

    def __init__(self, params: PageHinkleyParams | None = None) -> None:
        super().__init__(params or PageHinkleyParams())

    @property
    def params(self) -> PageHinkleyParams:
        assert isinstance(self._params, PageHinkleyParams)
        return self._params
