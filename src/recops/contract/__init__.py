"""The input contract: record kinds, their Arrow schemas and validation rules."""

from __future__ import annotations

from recops.contract.kinds import ARRIVALS as ARRIVALS
from recops.contract.kinds import BOOKKEEPING as BOOKKEEPING
from recops.contract.kinds import CANDIDATE_TYPE as CANDIDATE_TYPE
from recops.contract.kinds import CHANGES as CHANGES
from recops.contract.kinds import CONTRACT_VERSION as CONTRACT_VERSION
from recops.contract.kinds import FEATURE_ROWS as FEATURE_ROWS
from recops.contract.kinds import KINDS as KINDS
from recops.contract.kinds import OUTCOMES as OUTCOMES
from recops.contract.kinds import REQUESTS as REQUESTS
from recops.contract.kinds import TIME as TIME
from recops.contract.kinds import Field as Field
from recops.contract.kinds import FieldType as FieldType
from recops.contract.kinds import RecordKind as RecordKind
from recops.contract.kinds import get_kind as get_kind

__all__ = [
    "ARRIVALS",
    "BOOKKEEPING",
    "CANDIDATE_TYPE",
    "CHANGES",
    "CONTRACT_VERSION",
    "FEATURE_ROWS",
    "KINDS",
    "OUTCOMES",
    "REQUESTS",
    "TIME",
    "Field",
    "FieldType",
    "RecordKind",
    "get_kind",
]
