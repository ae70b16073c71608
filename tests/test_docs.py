"""The documentation analysts read stays true to the code."""

from pipelines.config import PROJECT_ROOT
from pipelines.table_docs import published_models, render_markdown


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
