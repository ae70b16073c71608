"""`python -m pipelines validate PATH...`: check exports without touching any warehouse.

Prints, per file, the layout and interface language recognised, how it was read (encoding, sheet,
campaign key, money units), rows read/loadable/rejected/skipped and every reject with its line,
column and reason. A file no layout fits gets the header it has and, for the closest layouts, the
required columns they miss. Exits 1 when anything was rejected or could not be read.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.core.pii import mask_text
from pipelines.ingest.raw_tables import SOURCES
from pipelines.ingest.readers import LOCAL_ZONE, ExportError, read_export
from pipelines.ingest.validate import split_rows


def _files(paths: list[Path], source: str | None) -> list[tuple[Path, str | None]]:
    found = []
    for path in paths:
        if path.is_dir():
            sources = [path.name] if path.name in SOURCES else [s for s in SOURCES if (path / s).is_dir()]
            for s in sources:
                folder = path if path.name == s else path / s
                found += [(f, s) for f in sorted(folder.rglob("*")) if f.is_file() and not f.name.startswith(".")]
        else:
            found.append((path, source or (path.parent.name if path.parent.name in SOURCES else None)))
    return found


def validate_paths(paths: list[Path], source: str | None = None, out=print, options: dict | None = None) -> int:
    status = 0
    for path, file_source in _files(paths, source):
        if file_source is None:
            out(f"{path}: source unknown — put the file in a <source>/ folder or pass --source ({', '.join(SOURCES)})")
            status = 1
            continue
        try:
            read = read_export(path, file_source, (options or {}).get(file_source))
        except ExportError as exc:
            out(f"{path}: ERROR {mask_text(str(exc))[:2000]}")  # a terminal is no place for e-mails and phones
            status = 1
            continue
        zone = ((options or {}).get(file_source) or {}).get(LOCAL_ZONE)
        good, failures = split_rows(file_source, read, zone=zone)
        rejected = failures["row"].n_unique()
        language = f", {read.language}" if read.language else ""
        out(
            f"{path}: {file_source}, layout {read.layout}{language} ({read.encoding}, {read.delimiter!r}): "
            f"{read.rows_read} rows read, {good.height} valid, {rejected} rejected, {read.skipped_lines} structural lines skipped"
        )
        for note in read.notes:
            out(f"  {note}")
        for row in failures.sort("source_row").iter_rows(named=True):
            out(
                f"  line {row['source_row']}: {row['column_name']} = {row['raw_value']!r}: {row['reason']} [{row['check_name']}]"
            )
        if rejected:
            status = 1
    return status
