"""Every published table's Pandera model: the documentation analysts see as comments, and the blocking
checks a build must pass before it is published."""

from schemas import marts_acquisition, marts_identity, marts_incrementality, marts_ltv, marts_ltv_predicted, quality

PUBLISHED = [
    *marts_acquisition.TABLES,
    *marts_ltv.TABLES,
    *marts_ltv_predicted.TABLES,
    *marts_incrementality.TABLES,
    *marts_identity.TABLES,
    *quality.TABLES,
]
