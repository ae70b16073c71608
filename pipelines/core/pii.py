"""Keyed hashing of personal data: the warehouse keeps `sha256(secret ‖ normalised value)`, never the value.

The secret comes from ACQ_HASH_SECRET. Without it a random per-installation secret is created once in
data/.hash_secret (git-ignored) and a loud warning says so: keys then stay stable on this machine but
differ between installations.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote

import polars as pl

from pipelines.core.paths import PROJECT_ROOT

SECRET_ENV = "ACQ_HASH_SECRET"
DEFAULT_SECRET_FILE = PROJECT_ROOT / "data" / ".hash_secret"
DEFAULT_COUNTRY_CODE = "7"  # a ten-digit number, or eleven starting with 8, is a Russian one
log = logging.getLogger(__name__)


def hash_secret(secret_file: Path = DEFAULT_SECRET_FILE) -> str:
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_hex(32), encoding="utf-8")
    log.warning(
        "%s is not set: hashing e-mails and phones with the per-installation secret in %s. "
        "Set %s to the same value everywhere the keys must match.",
        SECRET_ENV,
        secret_file,
        SECRET_ENV,
    )
    return secret_file.read_text(encoding="utf-8").strip()


def normalise_email(column: pl.Expr) -> pl.Expr:
    email = column.str.strip_chars().str.to_lowercase()
    return pl.when(email == "").then(None).otherwise(email)


def normalise_phone(column: pl.Expr) -> pl.Expr:
    """Digits with country code: '+7 (912) 345-67-89', '8 912 345 67 89' and '9123456789' -> '79123456789'.
    Text with no digits stays as it was, so validation rejects it with the raw value."""
    digits = column.str.replace_all(r"\D", "")
    with_code = (
        pl.when(digits.str.len_chars() == 10)
        .then(pl.lit(DEFAULT_COUNTRY_CODE) + digits)
        .when((digits.str.len_chars() == 11) & digits.str.starts_with("8"))
        .then(pl.lit(DEFAULT_COUNTRY_CODE) + digits.str.slice(1))
        .otherwise(digits)
    )
    stripped = column.str.strip_chars()
    return (
        pl.when(stripped.is_null() | (stripped == "")).then(None).when(digits == "").then(stripped).otherwise(with_code)
    )


def mask(value: str | None) -> str | None:
    """What quality.rejected_rows shows of a personal value: its shape, not its content."""
    if value is None:
        return None
    if "@" in value:
        name, _, domain = value.partition("@")
        return f"{name[:1]}***@{domain[:1]}***"
    return f"***{value[-2:]}" if len(value) > 2 else "***"


# E-mails and phone-like digit runs (10-15 digits, with the separators people type) inside free text.
_EMAIL_IN_TEXT = re.compile(r"[^\s@,;:\"'<>()\[\]{}|]+@[^\s@,;:\"'<>()\[\]{}|]+")
_PHONE_IN_TEXT = re.compile(r"(?<![\w.])\+?\d[\d ()\-]{8,20}\d(?![\w.])")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[./]\d{2}[./]\d{4}")


def _mask_phone(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 10 <= digits <= 15 or _DATE_LIKE.search(text):
        return text
    return mask(re.sub(r"\D", "", text))


def mask_text(text: str) -> str:
    """A message (an error, a log line, event metadata) with every e-mail and phone in it masked the
    way quality.rejected_rows masks them: messages reach terminals and Dagster's storage."""
    return _PHONE_IN_TEXT.sub(_mask_phone, _EMAIL_IN_TEXT.sub(lambda m: mask(m.group(0)), text))


# --------------------------------------------------------------------------------- free text in the warehouse
# Columns of free text an export may carry personal data in (e-mail tools put the address in utm_content
# or utm_term; a referrer can be a webmail link): stored with each e-mail and phone replaced by its key.
FREE_TEXT = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "referrer", "campaign_name")
# what may hold an e-mail (also URL-encoded, %40) or a phone (+-led, separator-grouped, tel:/phone=):
# a cheap vectorised filter, so only the few matching distinct values reach the exact rules below
_MAYBE_PERSONAL = r"(?i)@|%40|\+\d|%2b\d|tel:|phone=|\d[ ()\-]{1,3}\d{2}"
_EMAIL_ANYWHERE = re.compile(r"[^\s@,;:\"'<>()\[\]{}|&?=/]+(?:@|%40)[^\s@,;:\"'<>()\[\]{}|&?=/]+\.[A-Za-z]{2,}", re.I)
_PHONE_ANYWHERE = re.compile(r"(?i)(tel:|phone=)?(?<![\w.%])((?:\+|%2b)?\d[\d ()\-]{8,22}\d)(?![\w.])")


def _key(secret: str, value: str) -> str:
    return hashlib.sha256((secret + value).encode("utf-8")).hexdigest()


def pseudonymise_text(text: str, secret: str) -> str:
    """`text` with every e-mail and phone replaced by `[email:<key>]` / `[phone:<key>]`, the key being the
    same keyed hash as in the email_key / phone_key columns (joinable, never reversible). A phone is a run
    of 10-15 digits that starts with + or is grouped by separators, or follows tel: / phone=; a bare digit
    run (a campaign or click id) and a date are left as they are."""

    def email(match: re.Match) -> str:
        return f"[email:{_key(secret, unquote(match.group(0)).strip().lower())}]"

    def phone(match: re.Match) -> str:
        prefix, number = match.group(1) or "", match.group(2)
        digits = re.sub(r"\D", "", number.lower().replace("%2b", "+"))
        grouped = number.startswith("+") or number.lower().startswith("%2b") or any(c in number for c in " ()-")
        if not 10 <= len(digits) <= 15 or _DATE_LIKE.search(number) or not (prefix or grouped):
            return match.group(0)
        # the same normalisation as a phone column's (country code), so the key joins phone_key
        return f"{prefix}[phone:{_key(secret, pl.select(normalise_phone(pl.lit(digits))).item())}]"

    return _PHONE_ANYWHERE.sub(phone, _EMAIL_ANYWHERE.sub(email, text))


def pseudonymise_columns(frame: pl.DataFrame, secret: str, columns=FREE_TEXT) -> pl.DataFrame:
    """The frame with personal data in its free-text columns replaced by keys (pseudonymise_text)."""
    for column in [c for c in columns if c in frame.columns and frame.schema[c] == pl.String]:
        suspects = frame.get_column(column).filter(frame.get_column(column).str.contains(_MAYBE_PERSONAL)).unique()
        mapping = {v: new for v in suspects.to_list() if (new := pseudonymise_text(v, secret)) != v}
        if mapping:
            frame = frame.with_columns(pl.col(column).replace(mapping))
    return frame
