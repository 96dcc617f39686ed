"""The one compiled piece of recops: the drift engine's one-pass binning kernel (decision 0057).

Everything else is configured in pyproject.toml. The extension is optional: where no C
compiler is available the install still succeeds and the counting falls back to numpy
(``recops.drift.counting`` says which it uses).
"""

from __future__ import annotations

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "recops.drift._binning",
            ["src/recops/drift/_binning.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
