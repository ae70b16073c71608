"""The export folders: which files a source has, and the guards against a missing or sharply shrunk source."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.core.db import scalar
from pipelines.ingest.rules import IngestError, SourceLoad


def source_folders(raw_dir: Path, source: str) -> list[Path]:
    """The source's folders under the raw folder, matched case-blind (`Costs/` is `costs/`)."""
    if not raw_dir.is_dir():
        return []
    return sorted(p for p in raw_dir.iterdir() if p.is_dir() and p.name.lower() == source)


# Files that are never exports: documents, images, archives, and downloads still in progress (a browser
# writes .crdownload/.part until the file is whole). They are skipped with a warning, not read.
NOT_EXPORTS = {
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".doc",
    ".docx",
    ".ppt",
    ".pptx",
    ".zip",
    ".7z",
    ".rar",
    ".exe",
    ".tmp",
    ".bak",
    ".log",
    ".part",
    ".partial",
    ".crdownload",
    ".download",
}


def _candidates(raw_dir: Path, source: str) -> list[Path]:
    return sorted(
        p
        for folder in source_folders(raw_dir, source)
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in (".md",)
    )


def export_files(raw_dir: Path, source: str) -> list[Path]:
    return [p for p in _candidates(raw_dir, source) if p.suffix.lower() not in NOT_EXPORTS]


def raw_folder_warnings(raw_dir: Path, sources: tuple[str, ...]) -> list[str]:
    """What lies under the raw folder and is not read: unknown folders and files outside source folders."""
    if not raw_dir.is_dir():
        return []
    warnings = []
    for path in sorted(raw_dir.iterdir()):
        if path.name.startswith(".") or path.name.startswith("MANIFEST") or path.suffix.lower() == ".md":
            continue
        if path.is_dir() and path.name.lower() not in sources:
            warnings.append(
                f"unknown folder {path.name}/ in {raw_dir} was not read (source folders: {', '.join(sources)})"
            )
        elif path.is_file():
            warnings.append(
                f"file {path.name} in {raw_dir} is outside a source folder and was not read "
                f"(move it into one of {', '.join(s + '/' for s in sources)})"
            )
    for source in sources:
        for path in _candidates(raw_dir, source):
            if path.suffix.lower() in NOT_EXPORTS:
                warnings.append(
                    f"{path.relative_to(raw_dir).as_posix()} is not an export ({path.suffix.lower()} file) and was not read"
                )
    return warnings


def published_data_rows(con: duckdb.DuckDBPyConnection, source: str) -> tuple[int, int]:
    """(data rows, files) of the source as the build's starting point (a copy of the published
    warehouse) recorded them, before this run reconciles the folder."""
    if not scalar(
        con, "select count(*) from duckdb_tables() where schema_name = 'quality' and table_name = 'file_loads'"
    ):
        return 0, 0
    data_rows, files = con.execute(
        "select coalesce(sum(rows_read - rows_skipped), 0), count(*) from quality.file_loads where source = ?", [source]
    ).fetchone()
    return int(data_rows), int(files)


def check_source_present(raw_dir: Path, source: str, published: tuple[int, int], allow_missing: bool) -> None:
    """A raw folder or source folder that is not there is a mistake (a typo, an unmounted share, a failed
    export), not an empty source: refuse, unless the run says so explicitly."""
    if not raw_dir.is_dir():
        raise IngestError(f"raw folder {raw_dir} does not exist: check --raw (or ACQ_RAW_DIR)")
    if source_folders(raw_dir, source) or allow_missing:
        return
    had = (
        f"; the published warehouse holds {published[0]} {source} rows from {published[1]} file(s)"
        if published[1]
        else ""
    )
    raise IngestError(
        f"{source}: no {source}/ folder in {raw_dir}{had}. Put the exports there (an empty {source}/ folder "
        f"means no data), or pass --allow-missing to build without it"
    )


def check_no_sharp_shrink(
    source: str, published: tuple[int, int], load: SourceLoad, max_shrink_share: float, allow_shrink: bool
) -> None:
    """A source whose data rows fall sharply against the published warehouse has most likely lost files
    (a partial copy, a wrong folder): refuse to publish it, unless the run says so explicitly."""
    before, files = published
    if allow_shrink or before == 0 or load.data_rows >= before * (1 - max_shrink_share):
        return
    raise IngestError(
        f"{source}: {load.data_rows} data rows in {len(load.files)} file(s) now, against {before} in {files} file(s) "
        f"in the published warehouse ({1 - load.data_rows / before:.0%} fewer, over quality.max_shrink_share "
        f"{max_shrink_share:.0%}). If the exports really shrank, pass --allow-shrink"
    )
