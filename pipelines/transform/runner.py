"""Runs the SQL models in sql/: one file = one select = one table, ordered by the tables each mentions.

A file's first line says how it is materialised:
  -- materialized: view                        computed when read (for big, cheap-to-compute rows
                                               read once or twice: writing them would cost more)
  -- materialized: table                       rebuilt whole
  -- materialized: incremental by <column>     rows whose <column> falls in the window are replaced
  -- materialized: incremental by <column> per <grain column>
                                               the same, with each row's window widened to whole
                                               periods of its own grain only (a backfill of January
                                               rewrites January, its week, quarter and year rows,
                                               not the other months of that year)
  -- materialized: incremental by <column> since $<param>
                                               the window runs from the bound parameter (a date, or a
                                               callable given the connection and the table, evaluated
                                               just before the model runs) to the end of the run's months
  -- materialized: incremental by <column> per <grain column> since $<param>
                                               per grain, from the earlier of the run's first month and
                                               the parameter
  -- materialized: python                      rebuilt whole by the Python model registered for the table
                                               (pipelines/transform/models/__init__.py), given a ModelContext,
                                               for what SQL cannot do (a model fit); the file's select
                                               is its set-based input, and its tables name the refs
An incremental model "since" a parameter may also have rows restated from its own stored rows:
sql/<schema>/restated/<name>.sql, whose first line is `-- restated since $<param>`, selects the stored rows
of [$restate_start, $restate_end) with some columns computed again (the data-driven credits of purchases
whose touches did not change, under refitted weights). Its rows are the window from that parameter to the
"since" one; the model's own select then runs from the "since" one only. Spark recomputes them all with the
model's select (the same rows: the restated file is the cheaper path, not another definition).
An incremental model is rebuilt whole when its SQL or the run's settings (params["settings_fingerprint"])
differ from those that wrote its stored rows (meta.model_state), or when the as-of date moved back: a
changed channel rule or look-back must not leave older periods computed the old way. Every write of an
incremental model is logged with the start of the rows it replaced (meta.model_writes), so a model built
from it can recompute from there (pipelines/transform/params.py: rewritten_since).
Models sum money with `exact_sum(x)` (a macro defined here): summands are cast to DECIMAL(38, 10), so
a sum is exact and does not depend on the order DuckDB's threads add rows in; a plain sum of doubles
may differ in its last bits from run to run, and re-runs must give byte-identical tables.
Parameters are bound by DuckDB (`$name`), never pasted into the SQL text. Incremental models also get
`$rewrite_start`, the first date of the rows being replaced, to skip older inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb

from pipelines.core.config import ATTRIBUTION_MODELS
from pipelines.core.db import scalar, table_exists
from pipelines.core.paths import SQL_DIR
from pipelines.core.periods import EARLIEST, LATEST, covering_periods
from pipelines.ingest.raw_tables import SOURCES
from pipelines.transform.binding import PARAM, bind, strip_comments
from pipelines.transform.context import ModelContext
from pipelines.transform.models import PYTHON_MODELS, WRITTEN_BY
from pipelines.transform.state import (
    first_row_after,
    input_signature,
    model_fingerprint,
    store_inputs,
    store_state,
    stored,
    stored_inputs,
)

SCHEMAS = ("staging", "marts")
# a table reference: schema.name not followed by "(" (schema.name(...) is a macro call, e.g.
# staging.touch_tag_key(...), never a table; discover_models also refuses a reference to no known table)
_REF = re.compile(r"\b(raw|staging|marts|config|quality|meta)\.([a-z_][a-z0-9_]*)\b(?!\s*\()")
MACRO_NAMES = frozenset({"staging.click_id_type", "staging.touch_tag_key", "staging.attribution_models"})
MACROS = (
    "create or replace temp macro exact_sum(x) as sum(cast(x as decimal(38, 10)))::double;"
    # the same sum kept DECIMAL: daily totals summed again per period stay exact (and equal exact_sum's)
    "create or replace temp macro exact_total(x) as sum(cast(x as decimal(38, 10)));"
    # a touch's credit under a data-driven model (docs/metrics.md): its share w(c) / n(c) over the sum of its
    # purchase's shares; linear where the purchase's channels all weigh 0; 1 for a purchase without touches.
    # One definition for marts.attribution_credits and the stored credits it restates (sql/marts/restated/)
    "create or replace temp macro data_driven_credit(share, total, touch_count) as cast(case "
    "when touch_count = 0 then 1.0 when total > 0 then share / total else 1.0 / touch_count end as double);"
    # the last day of the period of `grain` that starts on `period_start`
    "create or replace temp macro last_day_of_period(grain, period_start) as (period_start + case grain "
    "when 'day' then interval 1 day when 'week' then interval 7 day when 'month' then interval 1 month "
    "when 'quarter' then interval 3 month else interval 1 year end)::date - 1;"
    # click_id is `name=value` (contracts section 5): the name says which platform's click it was.
    # Stored in the warehouse (not temp): the staging views use it when analysts read them.
    "create schema if not exists staging;"
    "create or replace macro staging.click_id_type(click_id) as case "
    "when click_id is null then null "
    "when contains(click_id, '=') then coalesce(nullif(lower(ltrim(split_part(click_id, '=', 1), '?&')), ''), 'unknown') "
    "else 'unknown' end;"
    # what identifies a touch's row in staging.touch_tags, its tag combination in the month of the touch
    # (struct equality: NULLs match)
    "create or replace macro staging.touch_tag_key(utm_source, utm_medium, utm_campaign, utm_content, utm_term, "
    "referrer, click_id, ts) as struct_pack(utm_source := utm_source, utm_medium := utm_medium, "
    "utm_campaign := utm_campaign, utm_content := utm_content, utm_term := utm_term, referrer := referrer, "
    "click_id_type := staging.click_id_type(click_id), seen_month := date_trunc('month', ts)::date);"
    # the attribution models, in their published order (schemas/marts_acquisition.py); stored in the
    # warehouse, as marts.attribution (a view) reads it
    f"create or replace macro staging.attribution_models() as [{', '.join(repr(m) for m in ATTRIBUTION_MODELS)}];"
    # a UTM value as analysts mean it: URL-decoded ('+' is a space, so an encoded %2B stays '+'),
    # lower case, and NULL when empty or an analytics placeholder such as '(none)' or '(not set)'
    # a rate to the reporting currency: 1 for an amount already in it, else the day's rate from
    # staging.fx_daily (NULL where there is none: staging.missing_fx_rates stops the run)
    "create or replace temp macro reporting_rate(currency, reporting_currency, rate) as "
    "case when currency = reporting_currency then 1.0 else rate end;"
    # the LTV:CAC band (docs/metrics.md "LTV:CAC"): `insufficient_data` with fewer than `min_customers`
    # customers behind the ratio (report.min_customers_for_band), NULL where the ratio is not finite
    "create or replace temp macro ltv_cac_band(ltv, cac, customers, min_customers) as case "
    "when coalesce(customers, 0) < min_customers then 'insufficient_data' "
    "when ltv / nullif(cac, 0) is null then null when ltv / nullif(cac, 0) < 1 then 'loss' "
    "when ltv / nullif(cac, 0) < 2 then 'break_even' when ltv / nullif(cac, 0) < 3 then 'low' "
    "when ltv / nullif(cac, 0) < 4 then 'healthy' else 'excellent' end;"
    # Student's t quantile 0.95 (a two-sided 90 % interval) at `df` degrees of freedom: the Cornish-Fisher
    # expansion to 1/df^4, within 0.00024 of the exact value from df = 4 on (tests/sql/test_intervals.py)
    "create or replace temp macro t_quantile_95(df) as 1.6448536269514722 + 1.5237691475737816 / df "
    "+ 1.4202029826359421 / pow(df, 2) + 0.9830015120343027 / pow(df, 3) + 0.4338764545048993 / pow(df, 4);"
    # Half the width of the 90 % interval of a credit-weighted mean (docs/metrics.md "The headline"), from the
    # sums Σw, Σw², Σwx, Σw²x, Σw²x² and m = customers with w > 0: t(n_eff - 1) x SE, with
    # SE² = m / (m - 1) x Σw²(x - x̄)² / (Σw)² and n_eff = (Σw)² / Σw²; NULL below 5 effective customers.
    "create or replace temp macro mean_interval_half(sw, sw2, swx, sw2x, sw2x2, m) as case "
    "when m >= 2 and sw > 0 and sw2 > 0 and sw * sw / sw2 >= 5 then t_quantile_95(sw * sw / sw2 - 1) "
    "* sqrt(m / (m - 1) * greatest(sw2x2 - 2 * (swx / sw) * sw2x + pow(swx / sw, 2) * sw2, 0) / (sw * sw)) end;"
    # the month the predicted LTV curve reaches `cac`: the curve is linear between its points at 0 (nothing),
    # 1, 3, 6, 12 and 24 months; rounded up; NULL when it does not within 24 months
    "create or replace temp macro predicted_payback_crossing(cac, m1, m3, m6, m12, m24) as "
    "list_min(list_transform(list_filter(["
    "{'h0': 0, 'v0': 0.0, 'h1': 1, 'v1': m1}, {'h0': 1, 'v0': m1, 'h1': 3, 'v1': m3}, "
    "{'h0': 3, 'v0': m3, 'h1': 6, 'v1': m6}, {'h0': 6, 'v0': m6, 'h1': 12, 'v1': m12}, "
    "{'h0': 12, 'v0': m12, 'h1': 24, 'v1': m24}], lambda s: s.v0 < cac - 1e-9 and s.v1 >= cac - 1e-9), "
    "lambda s: ceil(s.h0 + (cac - s.v0) / (s.v1 - s.v0) * (s.h1 - s.h0))));"
    "create or replace temp macro utm_value(x) as "
    "nullif(nullif(nullif(nullif(trim(lower(url_decode(replace(x, '+', ' ')))), ''), '(direct)'), '(none)'), '(not set)')"
)
_RESTATED = re.compile(r"--\s*restated since \$([a-z_][a-z0-9_]*)\s*$")
_HEADER = re.compile(
    r"--\s*materialized:\s*(view|table|(python)|incremental by ([a-z_][a-z0-9_]*)"
    r"(?: per ([a-z_][a-z0-9_]*))?(?: since \$([a-z_][a-z0-9_]*))?)\s*$"
)


@dataclass(frozen=True)
class SqlModel:
    schema: str
    name: str
    path: Path
    partition_column: str | None  # None = rebuilt whole
    refs: frozenset[str]
    is_view: bool = False
    grain_column: str | None = None  # incremental per grain: each row's window follows its grain
    since_param: str | None = None  # incremental since a parameter: [params[since_param], range_end)
    is_python: bool = False  # materialised by its Python model (PYTHON_MODELS[table].materialize(ctx))
    restated_path: Path | None = None  # sql/<schema>/restated/<name>.sql: rows restated from stored ones
    restate_param: str | None = None  # they run from params[restate_param] to params[since_param]

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def restated_sql(self) -> str | None:
        return self.restated_path.read_text(encoding="utf-8") if self.restated_path else None

    @property
    def definition(self) -> str:
        """Everything that defines its rows' SQL (what its fingerprint and input signature hash)."""
        return self.sql + (f"\n{self.restated_sql}" if self.restated_path else "")


def discover_models(sql_dir: Path = SQL_DIR) -> list[SqlModel]:
    """All models under sql/<schema>/, in an order where every model runs after the ones it reads."""
    models: dict[str, SqlModel] = {}
    for schema in SCHEMAS:
        for path in sorted((sql_dir / schema).glob("*.sql")):
            text = path.read_text(encoding="utf-8")
            header = _HEADER.match(text.splitlines()[0].strip()) if text.strip() else None
            if header is None:
                raise ValueError(
                    f"{path}: first line must be '-- materialized: view', '-- materialized: table' "
                    "'-- materialized: incremental by <column>' or '-- materialized: python'"
                )
            table = f"{schema}.{path.stem}"
            refs = {f"{s}.{t}" for s, t in _REF.findall(strip_comments(text))} - {table}
            is_view = header.group(1) == "view"
            restated_path, restate_param = _restated(path, header.group(5))
            if is_view and PARAM.search(strip_comments(text)):
                raise ValueError(f"{path}: a view cannot take bound parameters; materialise it as a table")
            models[table] = SqlModel(
                schema,
                path.stem,
                path,
                header.group(3),
                frozenset(refs),
                is_view,
                header.group(4),
                header.group(5),
                header.group(2) is not None,
                restated_path,
                restate_param,
            )
            if models[table].is_python and table not in PYTHON_MODELS:
                raise ValueError(f"{path}: materialized as python, but no Python model is registered for {table}")
    for model in models.values():
        unknown = sorted(ref for ref in model.refs if not _known_table(ref, models))
        if unknown:
            raise ValueError(
                f"{model.path}: reads {unknown}, which no SQL model, raw source or bookkeeping table builds"
            )
    order = TopologicalSorter({t: [r for r in m.refs if r in models] for t, m in models.items()})
    return [models[t] for t in order.static_order()]


def _restated(path: Path, since_param: str | None) -> tuple[Path | None, str | None]:
    """The model's restated rows (sql/<schema>/restated/<name>.sql) and the parameter they start at."""
    restated = path.parent / "restated" / path.name
    if not restated.exists():
        return None, None
    header = _RESTATED.match(restated.read_text(encoding="utf-8").splitlines()[0].strip())
    if header is None or since_param is None:
        raise ValueError(
            f"{restated}: first line must be '-- restated since $<param>', "
            f"and {path} must be materialized 'incremental by <column> since $<param>'"
        )
    return restated, header.group(1)


def _known_table(ref: str, models: dict[str, SqlModel]) -> bool:
    schema, name = ref.split(".")
    if ref in MACRO_NAMES:
        return False
    if schema in SCHEMAS:
        return ref in models
    if schema == "raw":
        return name in SOURCES
    return True  # config.*, quality.*, meta.*: written by ingest and the runner, not by SQL models


def run_model(
    con: duckdb.DuckDBPyConnection, model: SqlModel, params: dict[str, Any], *, skip_unchanged: bool = False
) -> int | None:
    """Materialise one model in the open connection; returns the number of rows written. With
    `skip_unchanged`, a model whose inputs hash as when it was last written is left as it is: returns
    None and writes nothing (a nightly with nothing new rewrites no row)."""
    signature = input_signature(con, model.definition, model.refs, params, WRITTEN_BY)
    if skip_unchanged and _kind(con, model.table) is not None and stored_inputs(con, model.table) == signature:
        return None
    con.execute(MACROS)  # ~40 ms: only for a model that runs
    written = _materialise(con, model, params)
    store_inputs(con, model.table, signature)
    return written


def _materialise(con: duckdb.DuckDBPyConnection, model: SqlModel, params: dict[str, Any]) -> int:
    query = model.sql
    con.execute(f"create schema if not exists {model.schema}")
    if model.partition_column:
        # the first date of the rows this write replaces (all time until the window is known): an
        # incremental model may skip inputs before it, which cannot reach a replaced row
        params = params | {"rewrite_start": EARLIEST}
    if model.is_python:
        # it binds its own parameters (the same select runs at two as-of dates)
        return int(PYTHON_MODELS[model.table].materialize(ModelContext(con, model.table, query, params)))
    bound = bind(query, params)
    existing = _kind(con, model.table)
    if model.is_view:
        if existing == "table":  # it was a table in an older build
            con.execute(f"drop table {model.table}")
        con.execute(f"create or replace view {model.table} as {query}")
        return 0
    if existing == "view":
        con.execute(f"drop view {model.table}")
    if model.partition_column is None:
        con.execute(f"create or replace table {model.table} as {query}", bound)
        return _count(con, model.table)

    plan = plan_write(con, model, params)
    if plan.full:
        con.execute(f"create or replace table {model.table} as {query}", bind(query, plan.params))
        store_state(con, model.table, plan.fingerprint, params.get("as_of_date"), EARLIEST)
        return _count(con, model.table)
    rewritten_from = plan.rewritten_from
    window = window_predicate(model, plan.windows)
    if plan.restated:
        # the rows before the "since" parameter's own start come from the stored ones (read before the delete)
        restate_start, restate_end = plan.restated
        own = plan.params | {model.since_param: restate_end}
        con.execute(
            f"create or replace temp table __model_rows as select * from ({query}) where {window}", bind(query, own)
        )
        restated = model.restated_sql
        bound = bind(restated, plan.params | {"restate_start": restate_start, "restate_end": restate_end})
        con.execute(f"insert into __model_rows by name {restated}", bound)
    else:
        bound = bind(query, plan.params)
        con.execute(f"create or replace temp table __model_rows as select * from ({query}) where {window}", bound)
    if table_exists(con, model.table) and _columns(con, model.table) == _columns(con, "__model_rows"):
        con.execute(f"delete from {model.table} where {window}")
        con.execute(f"insert into {model.table} by name select * from __model_rows")
    else:
        # The model's columns changed: rebuild the whole table so no period keeps an old shape.
        con.execute(f"create or replace table {model.table} as {query}", bind(query, plan.everything))
        rewritten_from = EARLIEST
    store_state(con, model.table, plan.fingerprint, params.get("as_of_date"), rewritten_from)
    written = scalar(con, "select count(*) from __model_rows")
    con.execute("drop table __model_rows")
    return int(written)


@dataclass(frozen=True)
class WritePlan:
    """How an incremental model is written this run (by either engine: pipelines/transform/engines/spark.py)."""

    full: bool  # rebuilt whole, with `params` = `everything`
    params: dict[str, Any]  # the bound parameters of the write (with $rewrite_start when windowed)
    everything: dict[str, Any]  # the all-time parameters (a rebuild)
    windows: list[tuple[str | None, Any, Any]]  # (grain or None, start, end): the rows replaced
    rewritten_from: Any  # the earliest window start (EARLIEST for a rebuild)
    fingerprint: str
    # (start, end): the rows of the window the model's restated SQL gives from its stored ones, where the
    # "since" parameter of `params` is `start` (the engine-neutral plan: its own select recomputes them)
    restated: tuple[Any, Any] | None = None


def plan_write(con: duckdb.DuckDBPyConnection, model: SqlModel, params: dict[str, Any]) -> WritePlan:
    """Whether an incremental model is rebuilt whole or which windows of it are replaced, from what
    meta.model_state remembers of its stored rows; a "since" parameter given as a callable is
    evaluated here, on `con`."""
    fingerprint = model_fingerprint(model.definition, params)
    if model.since_param:
        start = params[model.since_param]
        params = params | {model.since_param: start(con, model.table) if callable(start) else start}
    everything = params | _FULL_WINDOW | ({model.since_param: EARLIEST} if model.since_param else {})
    written_as_of = stored(con, model.table, "as_of_date")
    if (
        not table_exists(con, model.table)
        or stored(con, model.table, "fingerprint") != fingerprint
        or (written_as_of and params.get("as_of_date") and params["as_of_date"] < written_as_of)
        or params == everything
    ):
        # First build, the model's SQL or the settings changed, the as-of date moved back (rows outside
        # the window would keep a later view), or an all-time run: one plain rebuild.
        return WritePlan(True, everything, everything, [], EARLIEST, fingerprint)
    if model.since_param and written_as_of:
        # rows dated after the stored rows' as-of date were left out then (a source ran ahead of the
        # others): they are recomputed from their month on, once the as-of date has moved past them
        after = first_row_after(con, written_as_of)
        if after is not None and after.replace(day=1) < params[model.since_param]:
            params = params | {model.since_param: after.replace(day=1)}
    restated = None
    if model.restate_param:
        start = params[model.restate_param]
        start = start(con, model.table) if callable(start) else start
        if start < params[model.since_param]:
            restated = (start, params[model.since_param])
            params = params | {model.since_param: start}
    if model.grain_column and written_as_of and written_as_of < params["range_start"]:
        # the period holding the as-of date of the stored rows was incomplete then (period_complete...)
        params = params | {"range_start": written_as_of}
    windows = write_windows(model, params)
    rewritten_from = min(w[1] for w in windows)
    return WritePlan(
        False, params | {"rewrite_start": rewritten_from}, everything, windows, rewritten_from, fingerprint, restated
    )


_FULL_WINDOW = {"window_start": EARLIEST, "window_end": LATEST, "range_start": EARLIEST, "range_end": LATEST}


def write_windows(model: SqlModel, params: dict[str, Any]) -> list[tuple[str | None, Any, Any]]:
    """(grain, window_start, window_end): one window for the model (grain None), or one per grain."""
    if model.grain_column:
        start, end = params["range_start"], params["range_end"]
        if model.since_param:
            start = min(start, params[model.since_param])
        return [(grain, *covering_periods(start, end, grain)) for grain in params["grains"]]
    if model.since_param:
        return [(None, params[model.since_param], params["range_end"])]
    return [(None, params["window_start"], params["window_end"])]


def window_predicate(model: SqlModel, windows: list[tuple[str | None, Any, Any]], column: str | None = None) -> str:
    """The rows of `windows` (on `column`, by default the partition column) as a condition DuckDB and
    Spark both read. Dates are written as literals: they are dates, and grains are validated names."""
    column = column or model.partition_column
    parts = []
    for grain, start, end in windows:
        condition = f"{column} >= date '{start.isoformat()}' and {column} < date '{end.isoformat()}'"
        if model.grain_column:
            condition = f"{model.grain_column} = '{grain}' and {condition}"
        parts.append(f"({condition})")
    return "(" + " or ".join(parts) + ")" if parts else "false"


def run_all(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], models: list[SqlModel] | None = None
) -> dict[str, int]:
    return {m.table: run_model(con, m, params) for m in (models or discover_models())}


def _kind(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    schema, name = table.split(".")
    sql = "select table_type from information_schema.tables where table_schema = ? and table_name = ?"
    found = scalar(con, sql, [schema, name])
    return {"BASE TABLE": "table", "VIEW": "view"}.get(found) if found else None


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"describe {table}").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"select count(*) from {table}"))
