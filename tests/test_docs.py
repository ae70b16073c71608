"""The documentation analysts read stays true to the code."""

from pipelines.core.paths import PROJECT_ROOT
from pipelines.core.table_comments import published_models
from pipelines.publish.table_docs import render_markdown


def test_tables_doc_is_generated_from_the_models():
    on_disk = (PROJECT_ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert on_disk == render_markdown(), "docs/tables.md is stale: run `python -m pipelines docs`"


def test_every_published_column_is_described():
    for table, model in published_models().items():
        schema = model.to_schema()
        assert schema.description, f"{table} has no description"
        missing = [name for name, column in schema.columns.items() if not column.description]
        assert not missing, f"{table}: columns without description: {missing}"


def test_readme_names_every_published_table():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [table for table in published_models() if table not in readme]
    assert not missing, f"README does not mention {missing}"


def test_every_raw_and_config_column_is_described():
    from pipelines.core.table_comments import internal_description
    from pipelines.ingest.raw_tables import LINEAGE, RAW_COLUMNS
    from schemas.internal import CONFIG_TABLES, column_text

    for source, columns in RAW_COLUMNS.items():
        table = f"raw.{source}"
        assert internal_description(table), table
        assert [c for c in (columns | LINEAGE) if not column_text(table, c)] == [], table
    assert all(CONFIG_TABLES.values())


def test_every_staging_model_is_described_and_tables_doc_starts_with_the_summary():
    from pipelines.core.table_comments import internal_description
    from pipelines.transform.runner import discover_models

    assert [m.table for m in discover_models() if m.schema == "staging" and not internal_description(m.table)] == []
    doc = (PROJECT_ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    sections = [line for line in doc.splitlines() if line.startswith("## `")]
    assert sections[0] == "## `marts.channel_summary`"
    assert "| `channel` (key) | VARCHAR | no |" in doc  # SQL types, nullability and keys


def test_metrics_doc_is_the_projects_own_and_covers_every_setting_that_changes_numbers():
    doc = (PROJECT_ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme and "../" not in doc  # nothing outside the repository
    for key in (
        "default_margin_rate",
        "as_of_date",
        "lookback_days",
        "half_life_days",
        "summary_months",
        "min_customers_for_cac",
        "source_aliases",
    ):
        assert key in doc, key
    for figure in ("197.23", "435.21", "336.68", "78.95", "10.25", "40 000", "6.41", "3.75"):
        assert figure in doc, figure
