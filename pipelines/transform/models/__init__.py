"""Python models: what SQL cannot do (the identity graph's fixpoint, data-driven weights, LTV fits, the
marketing-mix model).

Each is named here by the table its SQL file builds (`sql/<schema>/<table>.sql`, first line
`-- materialized: python`); the runner calls `materialize(ctx)` (pipelines/transform/context.py).
"""

from pipelines.transform.models import data_driven, identity_graph, incrementality, ltv_predict

PYTHON_MODELS = {
    "staging.customer_identifiers": identity_graph,
    "marts.channel_weights": data_driven,
    "marts.customer_ltv_predicted": ltv_predict,
    "marts.channel_incrementality": incrementality,
}

# every table a Python model writes, with the model's own table (quality.ltv_backtest:
# marts.customer_ltv_predicted); a model's own table maps to itself
WRITTEN_BY = {t: table for table, module in PYTHON_MODELS.items() for t in getattr(module, "TABLES", (table,))}
