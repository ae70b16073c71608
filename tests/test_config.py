"""The settings file: defaults, and errors that name the bad key and value."""

from datetime import date

import pytest

from pipelines.core.config import ConfigError, load_config, parse_config


def test_project_file_loads_with_documented_defaults():
    config = load_config()
    assert config.reporting_currency == "RUB"
    assert config.lookback_days == 60
    assert config.half_life_days == 7.0
    assert config.default_model == "last_non_direct"
    assert config.max_reject_share == 0.05
    assert "month" in config.grains
    assert [r.priority for r in config.channel_rules] == list(range(1, len(config.channel_rules) + 1))
    assert config.source_aliases["fb"] == "facebook"


def test_empty_file_means_defaults():
    config = parse_config({})
    assert config.grains == ("month",)
    assert config.as_of_date is None
    assert config.ltv_horizons == (1, 3, 6, 12, 24)
    assert config.identity_max_links == 10
    assert (config.incrementality_weeks, config.incrementality_cadence) == (104, "weekly")


@pytest.mark.parametrize(
    "raw, named",
    [
        ({"reporting": {"currency": "rub"}}, "reporting.currency = 'rub'"),
        ({"reporting": {"default_margin_rate": 1.5}}, "reporting.default_margin_rate = 1.5"),
        ({"reporting": {"as_of_date": "2024-13-01"}}, "reporting.as_of_date = '2024-13-01'"),
        ({"periods": {"grains": ["month", "fortnight"]}}, "periods.grains"),
        ({"attribution": {"lookback_days": -1}}, "attribution.lookback_days = -1"),
        # issue 26: settings with no safe meaning are refused up front, the key named
        (
            {"attribution": {"lookback_days": 3651}},
            "attribution.lookback_days = 3651: expected a whole number of days from 0 to 3650",
        ),
        ({"channels": {"rules": []}}, "channels.rules = []: expected at least one [[channels.rules]] table"),
        ({"attribution": {"half_life_days": 0}}, "attribution.half_life_days = 0"),
        ({"attribution": {"default_model": "u_shaped"}}, "attribution.default_model = 'u_shaped'"),
        ({"attribution": {"lookbak_days": 30}}, "unknown key attribution.lookbak_days"),
        (
            {"attribution": {"data_driven_months": 0}},
            "attribution.data_driven_months = 0: expected a whole number from 1 to 120",
        ),
        ({"attribution": {"markov_order": 5}}, "attribution.markov_order = 5: expected a whole number from 1 to 4"),
        ({"attribution": {"markov_order": True}}, "attribution.markov_order = True"),
        ({"reportng": {}}, "unknown section [reportng]"),
        ({"quality": {"max_reject_share": "5%"}}, "quality.max_reject_share = '5%'"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone = 'Mars/Olympus'"),
        ({"schedule": {"cron": "nightly"}}, "schedule.cron = 'nightly'"),
        ({"channels": {"rules": [{"channel": "x", "source": "("}]}}, "channels.rules[1].source = '('"),
        ({"channels": {"rules": [{"channel": "x"}]}}, "channels.rules[1] (x): a rule must match"),
        ({"channels": {"rules": [{"channel": "x", "sauce": "a"}]}}, "unknown field(s) ['sauce']"),
        # valid in Python's re, not in DuckDB's RE2, which the rules run on
        (
            {"channels": {"rules": [{"channel": "a", "source": "^a$"}, {"channel": "paid", "medium": "^(?!organic)"}]}},
            "channels.rules[2].medium = '^(?!organic)' (paid): not a regular expression DuckDB (RE2) accepts",
        ),
        ({"quality": {"min_date": "1990-13-01"}}, "quality.min_date = '1990-13-01'"),
        (
            {"quality": {"max_date": "1980-01-01"}},
            "quality.max_date = 1980-01-01: expected a date after quality.min_date",
        ),
        ({"quality": {"max_amount": 1e30}}, "quality.max_amount = 1e+30"),
        ({"quality": {"max_shrink_share": 2}}, "quality.max_shrink_share = 2"),
        ({"identity": {"max_links": 0}}, "identity.max_links = 0"),
        ({"identity": {"max_links": 2.5}}, "identity.max_links = 2.5"),
        ({"incrementality": {"weeks": 4}}, "incrementality.weeks = 4: expected a whole number of weeks from 8 to 520"),
        ({"incrementality": {"cadence": "hourly"}}, "incrementality.cadence = 'hourly': expected one of"),
    ],
)
def test_bad_settings_are_named(raw, named):
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert named in str(error.value)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[reporting\ncurrency = 'RUB'", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    good = tmp_path / "good.toml"
    good.write_text('[reporting]\nas_of_date = "2025-06-30"\n[periods]\ngrains = ["week"]\n', encoding="utf-8")
    config = load_config(good)
    assert config.as_of_date == date(2025, 6, 30)
    assert config.coarsest_grain == "week"


def test_plausible_bounds_default_to_the_nineties_and_the_day_after_the_run():
    config = parse_config({})
    assert config.min_date == date(1990, 1, 1) and config.max_amount == 1e12 and config.max_shrink_share == 0.5
    assert config.plausible_max_date(date(2026, 12, 1)) == date(2026, 12, 2)
    fixed = parse_config({"quality": {"max_date": "2030-01-01"}})
    assert fixed.plausible_max_date(date(2026, 12, 1)) == date(2030, 1, 1)


def test_the_as_of_date_never_passes_the_run_date():
    import duckdb

    from pipelines.core.config import Config, run_date
    from pipelines.transform.params import as_of_date

    assert as_of_date(duckdb.connect(), Config(as_of_date=date(2099, 12, 31))) == run_date()
    assert as_of_date(duckdb.connect(), Config(as_of_date=date(2024, 6, 30))) == date(2024, 6, 30)


def test_a_removed_key_warns_and_is_not_refused():
    """issue 25: `[ltv] horizons` is no longer a setting (the horizons are the published columns); a file
    that still names it runs, with a warning that says so."""
    import warnings

    from pipelines.core.config import ConfigWarning, parse_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = parse_config({"ltv": {"horizons": [1, 2, 3], "summary_months": 6}})
    assert config.summary_months == 6 and config.ltv_horizons == (1, 3, 6, 12, 24)
    assert [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)] == [
        "ltv.horizons is no longer read: the LTV horizons are the published columns' (1, 3, 6, 12, 24 months), "
        "not a setting; remove the key"
    ]


def test_the_ltv_horizons_are_the_published_columns():
    from schemas.marts_ltv import LTV_HORIZONS, ChannelLtv, ChannelSummary
    from schemas.marts_ltv_predicted import CustomerLtvPredicted

    for model in (ChannelLtv, ChannelSummary):
        columns = set(model.to_schema().columns)
        found = {int(c.removeprefix("ltv_margin_")) for c in columns if c.removeprefix("ltv_margin_").isdigit()}
        assert found == set(LTV_HORIZONS), model
    predicted = set(CustomerLtvPredicted.to_schema().columns)
    assert {h for h in LTV_HORIZONS if f"expected_margin_{h}m" in predicted} == set(LTV_HORIZONS)
    assert {c for c in predicted if c.startswith("expected_margin_") and c.endswith("m")} == {
        f"expected_margin_{h}m" for h in LTV_HORIZONS
    }
