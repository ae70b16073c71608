"""The SQL of sql/ in Spark's dialect, transpiled by SQLGlot when a model runs (no second copy of the SQL).

`to_spark(sql)` parses a model's DuckDB SQL, expands our DuckDB macros (runner.MACROS, parsed from
their own definitions, so a changed macro flows through), applies the few rewrites SQLGlot cannot render
for Spark, and returns Spark SQL with the model's `$name` parameters as Spark's named parameter markers
(`:name`, bound by `spark.sql(query, args=...)`: values are never pasted into the text).

Rewrite rules (each one a construct SQLGlot 30 renders for Spark but Spark rejects or reads differently):

1. macros: `exact_sum`, `utm_value`, `last_day_of_period`, `staging.click_id_type`, `staging.touch_tag_key`
   are DuckDB macros; their bodies are parsed and substituted (a macro calling a macro is expanded too;
   `exact_sum(x) over w` puts the window on the sum inside the body).
   `exact_sum` stays exact: sum(cast(x as decimal(38, 10))), as in DuckDB.
2. `a asof [left] join b on <equalities> and a.t >= b.t` (Spark has no ASOF join) becomes
   `[left] join lateral (select * from b where <same condition> order by b.t desc limit 1) as b`:
   the latest row of b on or before a.t, which is what DuckDB's ASOF join picks.
3. `unnest(<struct column>)` in a select list (DuckDB: one column per field) becomes `<column>.*`;
   `unnest(<list of structs>, recursive := true)` becomes `inline(<list>)`; `unnest(<list>)` becomes
   `explode(<list>)`.
4. `cast(unnest(<list>) as T)` (Spark refuses a generator inside an expression) becomes
   `explode(cast(<list> as array<T>))`.
5. `epoch(a - b)` (seconds of an interval) becomes `(unix_micros(a) - unix_micros(b)) / 1e6`, and
   `to_days(n)` becomes `make_dt_interval(n)` (SQLGlot renders them as functions Spark lacks or reads
   differently: UNIX_TIMESTAMP of an interval, TO_DAYS).
6. `x + case ... then interval '1' day ... else interval '1' year end` (Spark will not mix day-time and
   year-month intervals in one CASE) becomes `case ... then x + interval '1' day ... end`.
7. `s[i:]` / `s[i:j]` on text (DuckDB's 1-based inclusive slice) becomes `substring(s, i[, j - i + 1])`.
8. `to_months(n)` becomes `make_ym_interval(0, n)`.
9. `url_decode(x)` becomes `coalesce(try_url_decode(x), x)`: DuckDB leaves a malformed escape as it is,
   Spark's url_decode raises.
10. `list_contains`, `struct_pack`, `arg_min`, `regexp_matches`, `generate_series`, `datediff`, `::`
   casts, `group by all`, `filter (where ...)`, semi/anti joins: SQLGlot's own translation, unchanged.

11. `row_number()`, `rank()`, `dense_rank()` over a window are cast to BIGINT (DuckDB's type; Spark's is
    INT, which the published tables' Pandera models refuse).

Session settings that keep DuckDB's semantics (pipelines/transform/engines/spark.py sets them): ANSI mode off
(x / 0 is NULL, as in DuckDB), session time zone UTC and TIMESTAMP_NTZ as the timestamp type (DuckDB's
`timestamp` has no time zone).
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp

from pipelines.transform.runner import MACROS

_MACRO = re.compile(
    r"create or replace (?:temp )?macro ([a-z_][a-z0-9_.]*)\(([^)]*)\) as (.*)", re.IGNORECASE | re.DOTALL
)


@functools.cache
def macros() -> dict[str, tuple[list[str], exp.Expression]]:
    """name -> (parameter names, body), parsed from the DuckDB macro definitions in runner.MACROS."""
    found: dict[str, tuple[list[str], exp.Expression]] = {}
    for statement in MACROS.split(";"):
        match = _MACRO.match(statement.strip())
        if match:
            name, args, body = match.groups()
            found[name.lower()] = (
                [a.strip().lower() for a in args.split(",") if a.strip()],
                sqlglot.parse_one(body, read="duckdb"),
            )
    return found


def _call_name(node: exp.Expression) -> tuple[str, list[exp.Expression]] | None:
    """(macro name, arguments) when `node` calls one of our macros."""
    if (
        isinstance(node, exp.Dot)
        and isinstance(node.expression, exp.Anonymous)
        and isinstance(node.this, exp.Identifier)
    ):
        name = f"{node.this.name}.{node.expression.name}".lower()
        return (name, list(node.expression.expressions)) if name in macros() else None
    if isinstance(node, exp.Anonymous) and node.name.lower() in macros():
        if isinstance(node.parent, exp.Dot) and node.parent.expression is node:
            return None  # handled at the Dot
        return node.name.lower(), list(node.expressions)
    return None


def _expand_macros(tree: exp.Expression) -> exp.Expression:
    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Window) and _call_name(node.this) is not None:
            # exact_sum(x) over w: the window belongs to the aggregate inside the macro's body
            body = expand(node.this)
            aggregate = body if isinstance(body, exp.AggFunc) else body.find(exp.AggFunc)
            if aggregate is None:
                raise ValueError(f"a window over a macro without an aggregate: {node.sql('duckdb')}")
            window = node.copy()
            window.set("this", aggregate.copy())
            if aggregate is body:
                return window
            aggregate.replace(window)
            return body
        call = _call_name(node)
        if call is None:
            return node
        name, args = call
        params, body = macros()[name]
        if len(args) != len(params):
            raise ValueError(f"macro {name} takes {len(params)} arguments, got {len(args)}: {node.sql('duckdb')}")
        values = dict(zip(params, args, strict=False))

        def substitute(inner: exp.Expression) -> exp.Expression:
            if isinstance(inner, exp.Column) and not inner.table and inner.name.lower() in values:
                return exp.paren(values[inner.name.lower()].copy(), copy=False)
            return inner

        expanded = _expand_macros(body.copy().transform(substitute))  # a macro may call another
        # the body stands where the call stood, as one operand: `t_quantile_95(df) * se` must not become
        # `a + b / df * se`
        return (
            expanded
            if isinstance(expanded, (exp.Paren, exp.Func, exp.Case, exp.Cast, exp.Column, exp.Literal))
            else exp.paren(expanded, copy=False)
        )

    return tree.transform(expand)


def _asof_joins(tree: exp.Expression) -> None:
    for join in list(tree.find_all(exp.Join)):
        if str(join.args.get("method") or "").upper() != "ASOF":
            continue
        table = join.this
        alias = table.alias_or_name
        condition = join.args["on"]
        ordering = None
        for part in condition.flatten() if isinstance(condition, exp.And) else [condition]:
            if isinstance(part, (exp.GTE, exp.GT, exp.LTE, exp.LT)):
                left, right = part.this, part.expression
                mine = right if isinstance(right, exp.Column) and right.table == alias else left
                # a.t >= b.t: b's latest row; a.t <= b.t: b's earliest
                descending = (mine is right) == isinstance(part, (exp.GTE, exp.GT))
                ordering = exp.Ordered(this=mine.copy(), desc=descending)
        if ordering is None:
            raise ValueError(f"ASOF join without an inequality: {join.sql('duckdb')}")
        inner_table = table.copy()
        inner = exp.select("*").from_(inner_table).where(condition.copy()).order_by(ordering).limit(1)
        lateral = exp.Lateral(this=exp.Subquery(this=inner), alias=exp.TableAlias(this=exp.to_identifier(alias)))
        join.set("this", lateral)
        join.set("on", None)
        join.set("method", None)
        if not join.args.get("side"):
            join.set("kind", None)


def _struct_sources(tree: exp.Expression) -> set[str]:
    """Names of columns defined in the query as a struct (after macro expansion)."""
    names = set()
    for alias in tree.find_all(exp.Alias):
        if isinstance(alias.this, exp.Struct) or (
            isinstance(alias.this, exp.Paren) and isinstance(alias.this.this, exp.Struct)
        ):
            names.add(alias.alias.lower())
    return names


def _generators(tree: exp.Expression) -> exp.Expression:
    structs = _struct_sources(tree)

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.Unnest, exp.Explode)):
            if isinstance(node, exp.Unnest):
                if isinstance(node.parent, (exp.From, exp.Join)):
                    return node  # a table function: SQLGlot renders it
                target, options = (node.expressions[0] if node.expressions else None), node.expressions[1:]
            else:
                target, options = node.this, node.expressions
            if target is None:
                return node
            if (
                isinstance(target, exp.Column)
                and target.name.lower() in structs
                and isinstance(node.parent, exp.Select)
            ):
                return exp.Column(this=exp.Star(), table=exp.to_identifier(target.name))
            recursive = any(
                isinstance(o, (exp.PropertyEQ, exp.Kwarg, exp.EQ)) and o.this.name.lower() == "recursive"
                for o in options
            )
            if recursive:
                return exp.Anonymous(this="inline", expressions=[target])
            return exp.Explode(this=target)
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Explode):
            array_type = exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[node.to.copy()], nested=True)
            return exp.Explode(this=exp.Cast(this=node.this.this, to=array_type))
        return node

    tree = tree.transform(rewrite)
    # a second pass: casts of generators created by the first
    return tree.transform(rewrite)


def _functions(tree: exp.Expression) -> exp.Expression:
    def micros(value: exp.Expression) -> exp.Expression:
        return exp.Anonymous(
            this="unix_micros", expressions=[exp.Cast(this=value.copy(), to=exp.DataType.build("timestamp"))]
        )

    def rewrite(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Window)
            and isinstance(node.this, (exp.RowNumber, exp.Rank, exp.DenseRank))
            and not isinstance(node.parent, exp.Cast)
        ):
            return exp.Cast(this=node.copy(), to=exp.DataType.build("bigint"))  # rule 11: DuckDB's are BIGINT
        if isinstance(node, exp.Add) and isinstance(node.expression.unnest(), exp.Case):
            case = node.expression.unnest()
            results = [i.args["true"] for i in case.args.get("ifs", [])] + [case.args.get("default")]
            if all(isinstance(r, exp.Interval) for r in results):  # rule 6: x + case ... interval ... end
                distributed = case.copy()
                for branch in distributed.args.get("ifs", []):
                    branch.set("true", exp.Add(this=node.this.copy(), expression=branch.args["true"]))
                distributed.set("default", exp.Add(this=node.this.copy(), expression=distributed.args["default"]))
                return distributed
        if isinstance(node, exp.ToDays):
            return exp.Anonymous(this="make_dt_interval", expressions=[node.this.copy()])
        if isinstance(node, exp.TimeToUnix):
            inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
            # epoch(a - b): the seconds between two timestamps
            seconds = (
                exp.Sub(this=micros(inner.this), expression=micros(inner.expression))
                if isinstance(inner, exp.Sub)
                else micros(inner)
            )
            return exp.Div(this=exp.paren(seconds), expression=exp.Literal.number("1000000.0"))
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name == "to_months":
                return exp.Anonymous(this="make_ym_interval", expressions=[exp.Literal.number(0), *node.expressions])
            if name == "url_decode":
                return exp.Coalesce(
                    this=exp.Anonymous(this="try_url_decode", expressions=[node.expressions[0].copy()]),
                    expressions=[node.expressions[0].copy()],
                )
        if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
            piece = node.expressions[0]
            args = [node.this.copy(), piece.this.copy()]
            if piece.expression is not None:
                args.append(
                    exp.Add(
                        this=exp.Sub(this=piece.expression.copy(), expression=piece.this.copy()),
                        expression=exp.Literal.number(1),
                    )
                )
            return exp.Substring(this=args[0], start=args[1], length=args[2] if len(args) > 2 else None)
        return node

    return tree.transform(rewrite)


_HEADER = re.compile(r"^\s*--[^\n]*\n")


@functools.lru_cache(maxsize=256)
def to_spark(sql: str) -> str:
    """A model's DuckDB select as Spark SQL (parameters as `:name` markers)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = _expand_macros(tree)
    _asof_joins(tree)
    tree = _functions(tree)
    tree = _generators(tree)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE, comments=False)


def parameters(sql: str) -> set[str]:
    """The `$name` parameters a DuckDB query names."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return {p.name for p in tree.find_all(exp.Placeholder) if p.name}
