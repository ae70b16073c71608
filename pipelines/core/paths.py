"""Where the project's own files are: the settings, the SQL models, the sample and the default warehouse."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "acquisition.toml"
