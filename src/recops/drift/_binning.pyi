"""The compiled one-pass binning kernel (``_binning.c``)."""

import numpy as np
import numpy.typing as npt

def count(
    values: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    shift: float,
    counts: npt.NDArray[np.int64],
    sums: npt.NDArray[np.float64],
) -> tuple[int, float, float, float]: ...
