"""Diagnosis: from "recommendations look off" to the root cause.

Modules: :mod:`recops.diagnose.trace` (what happened to one request),
:mod:`recops.diagnose.contribution` (which slices explain a metric's move),
:mod:`recops.diagnose.causes` (hypotheses of every kind: slices, changes, stale
features, drift, arrivals, schema, latency, serving rates, candidate sources, decay),
:mod:`recops.diagnose.diagnose` (rank them for an alert or a metric's move) and
:mod:`recops.diagnose.diff` (two windows or two model versions side by side).
"""
