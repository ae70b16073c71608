"""MANIFEST.md (for people) and MANIFEST.json (for tests) describing what a generation run wrote."""

from __future__ import annotations

import json

from pipelines.devtools.generate.writers import Output


def write_manifest(out: Output, args: dict, truth: dict) -> None:
    lines = [
        "# Sample data manifest",
        "",
        "Written by `pipelines.devtools.generate.sample` — do not edit by hand; regenerate with:",
        "",
        "```",
        f"python -m pipelines generate --out DIR --customers {args['customers']} --seed {args['seed']}"
        f" --months {args['months']} --start {args['start']} --layouts {args['layouts']}"
        f" --anonymous-ratio {args['anonymous_ratio']}",
        "```",
        "",
        "where DIR is this folder (`data/sample` for the committed sample). Same arguments, same bytes.",
        "",
        f"Seed {args['seed']}, {args['customers']} customers, {args['months']} months from {args['start']}, "
        f"layouts `{args['layouts']}`, anonymous touch ratio {args['anonymous_ratio']}.",
        "",
        "## Files",
        "",
        "| file | source | layout | data rows | written by | quirks | note |",
        "|---|---|---|---:|---|---|---|",
    ]
    for f in out.files:
        lines.append(f"| `{f.path}` | {f.source} | {f.layout} | {f.rows} | {f.writer} | {f.quirks} | {f.note} |")
    lines += [
        "",
        "Data rows include the planted bad rows and the re-exported duplicates below.",
        "",
        "## Bad rows planted",
        "",
        "Line numbers count the header as line 1 (canonical CSVs have no preamble).",
        "",
        "| file | line | column | value | why |",
        "|---|---:|---|---|---|",
    ]
    for b in out.bad_rows:
        lines.append(f"| `{b.path}` | {b.line} | {b.column} | `{b.value}` | {b.reason} |")
    lines += [
        "",
        "## Overlapping re-exports (exact duplicates)",
        "",
        "| file | rows | duplicates of |",
        "|---|---:|---|",
    ]
    for rel, rows, of in out.duplicates:
        lines.append(f"| `{rel}` | {rows} | `{of}` |")
    lines += ["", "## Simulated truth (before bad rows and duplicates)", ""]
    lines += [f"- {k}: {v}" for k, v in truth.items()]
    lines += [
        "",
        "## Conventions",
        "",
        "- Timestamps are naive local time (Europe/Moscow); amounts in the row's `currency`.",
        "- `touchpoints.click_id` is `<parameter>=<value>` (gclid=…, yclid=…, fbclid=…).",
        "- `referrer` is a full URL; organic/referral rules match on its host.",
        "- Guests (no CRM id) are identified on every order by e-mail only or by phone only; "
        "CRM customers' orders always carry their `customer_id`.",
        "",
    ]
    (out.root / "MANIFEST.md").write_text("\n".join(lines), encoding="utf-8")
    data = {
        "args": args,
        "truth": truth,
        "counts": out.counts(),
        "files": [f.__dict__ for f in out.files],
        "bad_rows": [b.__dict__ for b in out.bad_rows],
        "duplicates": [{"file": r, "rows": n, "of": o} for r, n, o in out.duplicates],
    }
    (out.root / "MANIFEST.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
