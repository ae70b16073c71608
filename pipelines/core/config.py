"""Settings: one TOML file (acquisition.toml by default), validated with errors that name key and value."""

from __future__ import annotations

import functools
import json
import re
import tomllib
import warnings
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pipelines.core.paths import DEFAULT_CONFIG_PATH
from schemas.inputs import SOURCES
from schemas.marts_acquisition import DATA_DRIVEN, MODELS
from schemas.marts_ltv import LTV_HORIZONS

# the sources whose coverage sets the as-of date (costs and FX rates never hold it back)
DATED_SOURCES = ("orders", "ad_spend", "touchpoints")
GRAINS = ("day", "week", "month", "quarter", "year")
# the published attribution models, in their order (schemas/marts_acquisition.py declares them)
ATTRIBUTION_MODELS = tuple(MODELS)
DATA_DRIVEN_MODELS = tuple(
    DATA_DRIVEN
)  # fitted on journeys (pipelines/transform/models/data_driven.py), the others are rules
RULE_FIELDS = ("source", "medium", "campaign", "referrer", "click_id", "platform")
ENGINES = ("duckdb", "spark")
# where Spark runs: local[N] / local[*], a cluster manager (spark://, yarn, k8s://...), or Spark Connect (sc://)
_SPARK_MASTER = re.compile(r"local(\[(\d+|\*)\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+|sc://\S+")


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range; the message names the key and the value."""


class ConfigWarning(UserWarning):
    """A setting that is no longer read: the run goes on, and the message says what to do instead."""


# keys that were settings once: a file that still names one is read, with a warning, never refused
_REMOVED: dict[tuple[str, str], str] = {
    ("ltv", "horizons"): "the LTV horizons are the published columns' (1, 3, 6, 12, 24 months), not a setting",
}


@dataclass(frozen=True)
class ChannelRule:
    priority: int
    channel: str
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    referrer: str | None = None
    click_id: str | None = None
    platform: str | None = None


@dataclass(frozen=True)
class Config:
    reporting_currency: str = "RUB"
    default_margin_rate: float = 0.35
    as_of_date: date | None = None
    reporting_timezone: str | None = None  # None: the schedule's (see local_timezone)
    grains: tuple[str, ...] = ("month",)
    partitions_start: date = date(2024, 1, 1)
    lookback_days: int = 60
    half_life_days: float = 7.0
    default_model: str = "last_non_direct"
    data_driven_months: int = 12  # markov / shapley are fitted on the journeys of the months ending at the as-of date
    markov_order: int = 1  # states of the Markov chain: the last k channels of a journey
    summary_months: int = 12
    ltv_min_customers_per_fit: int = 500
    ltv_cadence: str = "monthly"  # how often predicted LTV is refitted (pipelines/transform/models/ltv_predict.py)
    identity_max_links: int = 10
    incrementality_weeks: int = 104  # the marketing-mix model's fit window, in complete weeks
    incrementality_cadence: str = "weekly"  # how often it is refitted (pipelines/transform/models/incrementality.py)
    max_reject_share: float = 0.05
    min_date: date = date(1990, 1, 1)
    max_date: date | None = None  # None: the day after the run's date (see plausible_max_date)
    max_amount: float = 1e12
    max_shrink_share: float = 0.5
    schedule_cron: str = "30 2 * * *"
    schedule_timezone: str = "Europe/Moscow"
    late_data_days: int = 5
    report_min_customers: int = 10  # charts draw a month's CAC only from this many new customers on
    min_customers_for_band: int = 30  # an LTV:CAC band needs this many customers behind the ratio
    max_source_lag_days: int = 3  # a dated source this many days behind another is warned about
    # [sources.X] complete_through = "yesterday": the source is complete through the run's previous day
    complete_through: dict[str, str] = field(default_factory=dict)
    source_aliases: dict[str, str] = field(default_factory=dict)
    channel_rules: tuple[ChannelRule, ...] = ()
    reader_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # [sources.<source>]
    engine: str = "duckdb"  # [engine] kind: where staging and marts are computed (pipelines/transform/engines/)
    spark_master: str = "local[2]"  # [engine.spark] master
    spark_root: str = "data/spark"  # [engine.spark] root: Spark's Parquet tables (relative: to the project)
    spark_conf: dict[str, str] = field(default_factory=dict)  # [engine.spark.conf]: extra Spark settings
    source_path: Path | None = None

    @property
    def ltv_horizons(self) -> tuple[int, ...]:
        """The LTV horizons in months: fixed by the published columns (schemas/marts_ltv.py), not a setting."""
        return LTV_HORIZONS

    @property
    def local_timezone(self) -> str:
        """The business's time zone: a timestamp with an offset is converted to it before it gets a day."""
        return self.reporting_timezone or self.schedule_timezone

    def ingest_options(self, source: str) -> dict[str, Any]:
        """What ingest reads a source's files with: its [sources.<source>] settings and the local time zone."""
        return {**self.reader_options.get(source, {}), "reporting_timezone": self.local_timezone}

    @property
    def coarsest_grain(self) -> str:
        return max(self.grains, key=GRAINS.index)

    def plausible_max_date(self, today: date | None = None) -> date:
        """Latest plausible date of a row: configured, else the day after the run's date (UTC), which
        leaves a day for exports written in time zones ahead of UTC."""
        return self.max_date or (today or run_date()) + timedelta(days=1)


def effective_settings(config: Config) -> str:
    """The build's settings as JSON, defaults filled in (meta.build_info.settings): what `report` and
    `charts` read back. Spark's extra conf is left out: it may carry credentials."""
    values = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in ("source_path", "spark_conf")}
    values["channel_rules"] = [
        {k: v for k, v in asdict(rule).items() if v is not None} for rule in config.channel_rules
    ]
    return json.dumps(values, default=str, sort_keys=True, ensure_ascii=False)


def run_date() -> date:
    """The run's date (UTC): no row may be dated after the day after it, and the as-of date never passes it."""
    return datetime.now(UTC).date()


def _iso_date(value: Any) -> Any:
    """A date as TOML writes it, or its ISO text; anything else (a number, a bool) is refused."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise ValueError("not a date")


def _optional_date(value: Any) -> Any:
    return None if value in ("", None) else _iso_date(value)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError as exc:  # a KeyError: pydantic refuses a value on ValueError only
        raise ValueError(str(exc)) from None
    return value


def _cron(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError("not five fields")
    return value


def _grains(value: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value))


Share = Annotated[float, Field(ge=0, le=1)]
Day = Annotated[date, BeforeValidator(_iso_date)]
OptionalDay = Annotated[date | None, BeforeValidator(_optional_date)]


class _Section(BaseModel):
    """One [section] of the settings file: unknown keys and values of the wrong type are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Reporting(_Section):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = Config.reporting_currency
    default_margin_rate: Share = Config.default_margin_rate
    as_of_date: OptionalDay = None
    timezone: Annotated[str | None, AfterValidator(lambda v: v if v is None else _timezone(v))] = None


class Periods(_Section):
    grains: Annotated[list[Literal[GRAINS]], Field(min_length=1), AfterValidator(_grains)] = ["month"]
    partitions_start: Day = Config.partitions_start


class Attribution(_Section):
    # ten years: a touch further back has no meaning for a purchase (and 2^(-days / half-life) underflows)
    lookback_days: Annotated[int, Field(ge=0, le=3650)] = Config.lookback_days
    half_life_days: Annotated[float, Field(gt=0)] = Config.half_life_days
    default_model: Literal[ATTRIBUTION_MODELS] = Config.default_model
    data_driven_months: Annotated[int, Field(ge=1, le=120)] = Config.data_driven_months
    markov_order: Annotated[int, Field(ge=1, le=4)] = Config.markov_order  # order k: up to channels^k states


class Ltv(_Section):
    summary_months: Annotated[int, Field(ge=1)] = Config.summary_months
    min_customers_per_fit: Annotated[int, Field(ge=1)] = Config.ltv_min_customers_per_fit
    cadence: Literal["daily", "weekly", "monthly"] = Config.ltv_cadence


class Incrementality(_Section):
    weeks: Annotated[int, Field(ge=8, le=520)] = Config.incrementality_weeks
    cadence: Literal["daily", "weekly", "monthly"] = Config.incrementality_cadence


class Identity(_Section):
    max_links: Annotated[int, Field(ge=1)] = Config.identity_max_links


class Quality(_Section):
    max_reject_share: Share = Config.max_reject_share
    min_date: Day = Config.min_date
    max_date: OptionalDay = None
    max_amount: Annotated[float, Field(gt=0, lt=1e25)] = Config.max_amount
    max_shrink_share: Share = Config.max_shrink_share
    max_source_lag_days: Annotated[int, Field(ge=0)] = Config.max_source_lag_days


class Schedule(_Section):
    cron: Annotated[str, AfterValidator(_cron)] = Config.schedule_cron
    timezone: Annotated[str, AfterValidator(_timezone)] = Config.schedule_timezone
    late_data_days: Annotated[int, Field(ge=0)] = Config.late_data_days


class Report(_Section):
    min_customers_for_cac: Annotated[int, Field(ge=0)] = Config.report_min_customers
    min_customers_for_band: Annotated[int, Field(ge=1)] = Config.min_customers_for_band


# [section] -> its model; each key -> (Config attribute, what a refused value should have been)
SECTIONS: dict[str, type[_Section]] = {
    "reporting": Reporting,
    "periods": Periods,
    "attribution": Attribution,
    "ltv": Ltv,
    "identity": Identity,
    "incrementality": Incrementality,
    "quality": Quality,
    "schedule": Schedule,
    "report": Report,
}
_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("reporting", "currency"): ("reporting_currency", "a three-letter ISO code such as 'RUB'"),
    ("reporting", "default_margin_rate"): ("default_margin_rate", "a number from 0 to 1"),
    ("reporting", "as_of_date"): ("as_of_date", "a date YYYY-MM-DD"),
    ("reporting", "timezone"): ("reporting_timezone", "an IANA time zone such as 'Europe/Moscow'"),
    ("periods", "grains"): ("grains", f"a non-empty list drawn from {list(GRAINS)}"),
    ("periods", "partitions_start"): ("partitions_start", "a date YYYY-MM-DD"),
    ("attribution", "lookback_days"): ("lookback_days", "a whole number of days from 0 to 3650"),
    ("attribution", "half_life_days"): ("half_life_days", "a number of days > 0"),
    ("attribution", "default_model"): ("default_model", f"one of {ATTRIBUTION_MODELS}"),
    ("attribution", "data_driven_months"): ("data_driven_months", "a whole number from 1 to 120"),
    ("attribution", "markov_order"): ("markov_order", "a whole number from 1 to 4"),
    ("ltv", "summary_months"): ("summary_months", "a whole number >= 1"),
    ("ltv", "min_customers_per_fit"): ("ltv_min_customers_per_fit", "a whole number >= 1"),
    ("ltv", "cadence"): ("ltv_cadence", "one of 'daily', 'weekly', 'monthly'"),
    ("identity", "max_links"): ("identity_max_links", "a whole number >= 1"),
    ("incrementality", "weeks"): ("incrementality_weeks", "a whole number of weeks from 8 to 520"),
    ("incrementality", "cadence"): ("incrementality_cadence", "one of 'daily', 'weekly', 'monthly'"),
    ("quality", "max_reject_share"): ("max_reject_share", "a number from 0 to 1"),
    ("quality", "min_date"): ("min_date", "a date YYYY-MM-DD"),
    ("quality", "max_date"): ("max_date", "a date YYYY-MM-DD"),
    ("quality", "max_amount"): ("max_amount", "a number > 0 and < 1e25 (sums of amounts must fit DECIMAL(38, 10))"),
    ("quality", "max_shrink_share"): ("max_shrink_share", "a number from 0 to 1"),
    ("quality", "max_source_lag_days"): ("max_source_lag_days", "a whole number of days >= 0"),
    ("schedule", "cron"): ("schedule_cron", "a five-field cron string such as '30 2 * * *'"),
    ("schedule", "timezone"): ("schedule_timezone", "an IANA time zone such as 'Europe/Moscow'"),
    ("schedule", "late_data_days"): ("late_data_days", "a whole number >= 0"),
    ("report", "min_customers_for_cac"): ("report_min_customers", "a whole number >= 0"),
    ("report", "min_customers_for_band"): ("min_customers_for_band", "a whole number >= 1"),
}


def _section(where: str, section: str, body: dict[str, Any]) -> dict[str, Any]:
    """The Config attributes a [section] sets, validated by its model; a refusal names key and value."""
    try:
        parsed = SECTIONS[section].model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0])
        if error["type"] == "extra_forbidden":
            known = sorted(SECTIONS[section].model_fields)
            raise ConfigError(f"{where}unknown key {section}.{key}; known in [{section}]: {known}") from None
        expected = _KEYS[section, key][1]
        raise ConfigError(f"{where}{section}.{key} = {body[key]!r}: expected {expected}") from None
    return {_KEYS[section, key][0]: getattr(parsed, key) for key in body}


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a config file; `None` means the project's acquisition.toml."""
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, source_path=path)


def parse_config(raw: dict[str, Any], source_path: Path | None = None) -> Config:
    where = f"{source_path}: " if source_path else ""
    values: dict[str, Any] = {}
    known_sections = {*SECTIONS, "channels", "sources", "engine"}
    for section, body in raw.items():
        if section not in known_sections:
            raise ConfigError(f"{where}unknown section [{section}]; known: {sorted(known_sections)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}[{section}] must be a table, got {body!r}")
        if section in ("channels", "sources", "engine"):
            continue
        for key in [k for k in body if (section, k) in _REMOVED]:
            warnings.warn(
                f"{where}{section}.{key} is no longer read: {_REMOVED[section, key]}; remove the key",
                ConfigWarning,
                stacklevel=2,
            )
        values |= _section(where, section, {k: v for k, v in body.items() if (section, k) not in _REMOVED})
    channels = raw.get("channels", {})
    for key in channels:
        if key not in ("source_aliases", "rules"):
            raise ConfigError(f"{where}unknown key channels.{key}; known: ['rules', 'source_aliases']")
    values["source_aliases"] = _aliases(where, channels.get("source_aliases", {}))
    values["channel_rules"] = _rules(where, channels["rules"]) if "rules" in channels else ()
    values["reader_options"] = _reader_options(where, raw.get("sources", {}))
    # complete_through says how far a source covers, not how to read it: kept out of the reader options
    values["complete_through"] = {
        source: options.pop("complete_through")
        for source, options in values["reader_options"].items()
        if "complete_through" in options
    }
    values |= _engine(where, raw.get("engine", {}))
    if values.get("max_date") and values["max_date"] <= values.get("min_date", Config.min_date):
        raise ConfigError(f"{where}quality.max_date = {values['max_date']}: expected a date after quality.min_date")
    return Config(**values, source_path=source_path)


# [sources.<source>]: how that source's exports are read where a file cannot say it itself
READER_OPTIONS = {
    "currency": "the account currency of reports that carry none (Google Ads, Microsoft), e.g. 'USD'",
    "yandex_money_in_micros": "true / false: Yandex Direct API money units; unset = told apart per file",
    "encoding": "the text encoding of every file of the source, e.g. 'cp1251' (overrides detection)",
    "timezone": "the time zone the source's local timestamps are written in (Metrica: the counter's), e.g. 'Europe/Moscow'",
    "complete_through": "'yesterday': the source is complete through the run's previous day even where its last "
    "days have no rows (orders, ad_spend, touchpoints)",
    # orders from a CRM: a pipeline's own stage names (Bitrix24, amoCRM), beside the layouts' defaults
    "won_stages": "a list of the CRM stage names that mean a deal is won (a valid order), e.g. ['Оплачено']",
    "lost_stages": "a list of the CRM stage names that mean a deal is lost (not an order), e.g. ['Отказ']",
}


def _reader_options(where: str, sources: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for source, options in sources.items():
        if source not in SOURCES:
            raise ConfigError(f"{where}unknown section [sources.{source}]; known sources: {list(SOURCES)}")
        if not isinstance(options, dict):
            raise ConfigError(f"{where}[sources.{source}] must be a table, got {options!r}")
        for key, value in options.items():
            name = f"{where}sources.{source}.{key} = {value!r}"
            if key not in READER_OPTIONS:
                raise ConfigError(f"{where}unknown key sources.{source}.{key}; known: {sorted(READER_OPTIONS)}")
            if key == "currency" and not (isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value)):
                raise ConfigError(f"{name}: expected a three-letter ISO code such as 'USD'")
            if key == "complete_through" and (value != "yesterday" or source not in DATED_SOURCES):
                raise ConfigError(f"{name}: expected 'yesterday', on one of the dated sources {list(DATED_SOURCES)}")
            if key in ("won_stages", "lost_stages") and not (
                isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
            ):
                raise ConfigError(f"{name}: expected a list of stage names, e.g. ['Оплачено']")
            if key == "yandex_money_in_micros" and not isinstance(value, bool):
                raise ConfigError(f"{name}: expected true or false")
            if key == "timezone":
                from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

                try:
                    ZoneInfo(str(value))
                except (ZoneInfoNotFoundError, ValueError):
                    raise ConfigError(f"{name}: expected an IANA time zone such as 'Europe/Moscow'") from None
            if key == "encoding":
                import codecs

                try:
                    codecs.lookup(str(value))
                except LookupError:
                    raise ConfigError(f"{name}: not an encoding Python knows (e.g. 'utf-8', 'cp1251')") from None
        out[source] = dict(options)
    return out


def _engine(where: str, engine: dict[str, Any]) -> dict[str, Any]:
    """[engine] kind = "duckdb" (default) | "spark"; [engine.spark] master, root and conf."""
    out: dict[str, Any] = {}
    for key in engine:
        if key not in ("kind", "spark"):
            raise ConfigError(f"{where}unknown key engine.{key}; known in [engine]: ['kind', 'spark']")
    kind = engine.get("kind", "duckdb")
    if kind not in ENGINES:
        raise ConfigError(f"{where}engine.kind = {kind!r}: expected one of {list(ENGINES)}")
    out["engine"] = kind
    spark = engine.get("spark", {})
    if not isinstance(spark, dict):
        raise ConfigError(f"{where}[engine.spark] must be a table, got {spark!r}")
    for key, value in spark.items():
        name = f"{where}engine.spark.{key} = {value!r}"
        if key == "master":
            if not (isinstance(value, str) and _SPARK_MASTER.fullmatch(value.strip())):
                raise ConfigError(
                    f"{name}: expected local[N], local[*], spark://host:port, yarn, k8s://..., or a Spark "
                    "Connect URL sc://host:port"
                )
            out["spark_master"] = value.strip()
        elif key == "root":
            if not (isinstance(value, str) and value.strip()) or "://" in value:
                raise ConfigError(
                    f"{name}: expected a folder the driver and every executor see (local for local[N], a shared "
                    "mount on a cluster); object-store URLs (s3a://, hdfs://) are not supported yet"
                )
            out["spark_root"] = value.strip()
        elif key == "conf":
            if not (
                isinstance(value, dict)
                and all(isinstance(k, str) for k in value)
                and all(isinstance(v, (str, int, float, bool)) for v in value.values())
            ):
                raise ConfigError(
                    f'{name}: expected a table of Spark settings, e.g. {{ "spark.executor.memory" = "8g" }}'
                )
            out["spark_conf"] = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        else:
            raise ConfigError(f"{where}unknown key engine.spark.{key}; known: ['conf', 'master', 'root']")
    return out


def _aliases(where: str, aliases: Any) -> dict[str, str]:
    if not isinstance(aliases, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise ConfigError(f"{where}channels.source_aliases = {aliases!r}: expected a table of text -> text")
    return {k.strip().lower(): v.strip().lower() for k, v in aliases.items()}


def _rules(where: str, rules: Any) -> tuple[ChannelRule, ...]:
    if not isinstance(rules, list):
        raise ConfigError(f"{where}channels.rules = {rules!r}: expected a list of [[channels.rules]] tables")
    if not rules:  # no rule: every touch and campaign would be `other`, and every channel figure meaningless
        raise ConfigError(f"{where}channels.rules = []: expected at least one [[channels.rules]] table")
    texts = {p for r in rules if isinstance(r, dict) for n in RULE_FIELDS if isinstance(p := r.get(n), str)}
    problems = _re2_errors(frozenset(texts))
    parsed = []
    for position, rule in enumerate(rules, start=1):
        key = f"{where}channels.rules[{position}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("channel"), str) or not rule["channel"].strip():
            raise ConfigError(f"{key} = {rule!r}: every rule needs a channel name")
        unknown = set(rule) - {"channel", *RULE_FIELDS}
        if unknown:
            raise ConfigError(f"{key}: unknown field(s) {sorted(unknown)}; known: {['channel', *RULE_FIELDS]}")
        patterns = {name: rule.get(name) for name in RULE_FIELDS}
        if not any(patterns.values()):
            raise ConfigError(f"{key} ({rule['channel']}): a rule must match at least one of {list(RULE_FIELDS)}")
        for name, pattern in patterns.items():
            if pattern is None:
                continue
            if not isinstance(pattern, str):
                raise ConfigError(
                    f"{key}.{name} = {pattern!r} ({rule['channel']}): expected a regular expression as text"
                )
            problem = problems.get(pattern)
            if problem:
                raise ConfigError(
                    f"{key}.{name} = {pattern!r} ({rule['channel']}): not a regular expression DuckDB (RE2) accepts: "
                    f"{problem}. RE2 has no look-around ((?=...), (?!...)) or back-references"
                ) from None
        parsed.append(ChannelRule(priority=position, channel=rule["channel"].strip(), **patterns))
    return tuple(parsed)


@functools.cache  # a run reads its settings more than once
def _re2_errors(patterns: frozenset[str]) -> dict[str, str]:
    """Compile the patterns with DuckDB's own regex engine (RE2), which the channel rules run on: Python's
    `re` accepts patterns RE2 rejects (look-ahead), and those would fail only minutes into a run. One
    in-memory database for all of them: one per pattern cost ~25 ms each, 0.7 s of every run's start
    with the default rules (benchmarks/README.md, issue 29)."""
    import duckdb

    problems = {}
    con = duckdb.connect()
    try:
        for pattern in sorted(patterns):
            try:
                con.execute("select regexp_matches('', ?)", [pattern]).fetchall()
            except duckdb.Error as exc:
                problems[pattern] = str(exc).removeprefix("Invalid Input Error: ").strip()
    finally:
        con.close()
    return problems
