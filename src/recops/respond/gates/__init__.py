"""Deployment gates: a policy of checks a model version must pass before an alias moves to it.

``policy.py`` reads the workspace's ``gates.yaml``; one module per check; ``run.py`` runs a
policy for ``MODEL@VERSION → ALIAS`` and records the result on the version as the
validation ``gate:<alias>`` (docs/response.md).
"""
