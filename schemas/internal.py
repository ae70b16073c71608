"""Words for the tables analysts can see besides the published marts: raw.*, staging.* and config.*.

Published tables keep their documentation in their Pandera models (marts_*.py, quality.py). These
schemas are built by ingest, the staging SQL and the config writer; their comments come from here:
a table's description (raw: the input model's docstring; staging: the leading comment of its SQL file;
config: below) and one text per column name, with per-table overrides where a name means something
else. tests/test_docs.py fails when a column of a built table has no text here.
"""

from __future__ import annotations

CONFIG_TABLES = {
    "config.channel_rules": "The channel rules in force for this build ([[channels.rules]] of the settings file), in the "
    "order they are tried: the first rule whose every given pattern matches a touch's normalised tags names its channel.",
    "config.source_aliases": "UTM source aliases in force for this build (channels.source_aliases): a normalised source "
    "equal to alias is read as source (fb -> facebook).",
}

RAW_SUFFIX = (
    " The validated rows of every export file in the source's folder, one per natural key (ingest kept the copy of "
    "the file whose rows reach later, see quality.conflicts); rows that failed validation are in quality.rejected_rows."
)

COLUMNS: dict[str, str] = {
    # lineage
    "source_file": "Export file the row came from, relative to the raw folder.",
    "source_row": "Line of the row in its export file, as a spreadsheet numbers it (1 = first line).",
    "layout": "Export layout recognised from the file's header (canonical, google_ads_ui, meta_ads_manager, yandex_direct_api, vk_ads_stats).",
    # ad spend
    "date": "Calendar day.",
    "platform": "Ad platform, normalised (google, yandex, vk, meta, ...).",
    "platform_raw": "Ad platform as exported.",
    "account_id": "Ad account id as exported.",
    "campaign_id": "Campaign id on the ad platform.",
    "campaign_name": "Campaign name as exported.",
    "impressions": "Impressions that day (NULL when the export does not report them).",
    "clicks": "Clicks that day (NULL when the export does not report them).",
    "spend": "Spend that day in the currency of the row (raw) or in the reporting currency (staging).",
    "spend_original": "Spend in the export's currency.",
    "currency": "ISO code of the currency the amounts were exported in.",
    "fx_rate": "Reporting-currency units per one unit of currency at the row's date (latest rate on or "
    "before it); 1 for the reporting currency, NULL when no rate is known.",
    # UTM tags
    "utm_source": "utm_source tag as exported.",
    "utm_medium": "utm_medium tag as exported.",
    "utm_campaign": "utm_campaign tag as exported.",
    "utm_content": "utm_content tag as exported.",
    "utm_term": "utm_term tag as exported.",
    "source": "Normalised source: trimmed, lower case, URL-decoded, placeholders such as (none) removed, aliases applied (fb -> facebook).",
    "medium": "Normalised utm_medium (trimmed, lower case, URL-decoded; NULL for empty or a placeholder).",
    "campaign": "Normalised utm_campaign (trimmed, lower case, URL-decoded; NULL for empty or a placeholder).",
    "content": "Normalised utm_content (trimmed, lower case, URL-decoded; NULL for empty or a placeholder).",
    "term": "Normalised utm_term (trimmed, lower case, URL-decoded; NULL for empty or a placeholder).",
    "referrer": "Referrer URL as exported.",
    "referrer_host": "Host of the referrer, without scheme, port, path and a leading www.",
    "click_id": "Click identifier as exported, name=value (gclid=..., yclid=..., fbclid=...).",
    "click_id_type": "Name of the click-id parameter (gclid, yclid, fbclid, ...; 'unknown' without a name): it says which platform's click it was.",
    "channel": "Channel (config.channel_rules).",
    # costs
    "period_start": "First day the cost covers.",
    "period_end": "Last day the cost covers (inclusive).",
    "category": "Cost category: salary, software, services, overhead or other.",
    "amount": "Amount in the currency of the row (raw) or the reporting currency (staging).",
    "amount_original": "Amount in the export's currency.",
    "allocation": "How a shared cost (no channel) is divided among channels: orders, new_customers, spend or none (raw: NULL = orders).",
    "days": "Days the cost covers (period_end - period_start + 1).",
    "channel_raw": "Channel as exported (empty = a shared cost).",
    "cost_period_start": "First day of the cost row this day's share comes from.",
    "cost_period_end": "Last day of the cost row this day's share comes from.",
    # customers and orders
    "customer_id": "CRM customer id as exported (NULL for guest orders and anonymous visits).",
    "email_key": "Keyed hash of the normalised e-mail (sha256 of secret and value); the e-mail itself is never stored.",
    "phone_key": "Keyed hash of the normalised phone (digits with country code); the phone itself is never stored.",
    "created_at": "When the record was created (UTC).",
    "customer_key": "Stitched customer identity every mart keys on: crm:<id>, else email:/phone:<key>, else visitor:<id>, else order:<id>.",
    "order_id": "Order id as exported.",
    "visitor_id": "Web visitor (browser) id.",
    "status": "Order status as exported, lower case (paid, completed, cancelled, refunded, pending, ...).",
    "revenue": "Order revenue (raw: export currency; staging: reporting currency).",
    "cost_of_goods": "Cost of goods of the order (NULL when not exported; margin then uses reporting.default_margin_rate).",
    "refunded_amount": "Amount refunded (raw: export currency; staging: reporting currency at the refund's date; 0 without refund).",
    "refunded_at": "When the refund happened (UTC); the refund lowers revenue and margin in that month.",
    "refund_fx_rate": "Rate at the refund's date (reporting-currency units per one unit of currency).",
    "order_ts": "When the order was placed (UTC).",
    "order_date": "Day the order was placed (UTC).",
    "is_valid": "True for a paid or completed order that is not fully refunded: the orders every metric counts.",
    # touchpoints
    "ts": "Time of the visit (UTC).",
    "seen_month": "First day of the month the tag combination was seen in.",
    # identity graph
    "identifier": "An identifier of a person as '<kind>:<value>': crm:<customer id>, email:<keyed hash>, "
    "phone:<keyed hash>, visitor:<web or analytics client id>.",
    "identifier_kind": "crm, email, phone or visitor.",
    "identifier_value": "The identifier without its kind (e-mails and phones as keyed hashes, never in clear).",
    "tag_key": "The combination of tags, referrer, click-id name and month (macro staging.touch_tag_key) that identifies the row.",
    # fx
    "rate": "Reporting-currency units per one unit of currency.",
    # config
    "priority": "Order in which the rule is tried (1 first); the first rule that matches wins.",
    "source_regex": "Regular expression searched in the normalised source (NULL = any).",
    "medium_regex": "Regular expression searched in the normalised medium (NULL = any).",
    "campaign_regex": "Regular expression searched in the normalised campaign (NULL = any).",
    "referrer_regex": "Regular expression searched in the referrer host (NULL = any).",
    "click_id_regex": "Regular expression searched in the click-id parameter name (NULL = any).",
    "platform_regex": "Regular expression searched in the ad platform of ad-spend rows (NULL = any).",
    "alias": "A normalised source value that is read as another one.",
    "rule_priority": "Priority of the rule that matched (NULL: no rule matched; the channel is then direct or other).",
}

# where a column name means something more specific in one table
OVERRIDES: dict[str, dict[str, str]] = {
    "config.source_aliases": {"source": "The source an alias is read as."},
    "config.channel_rules": {"channel": "Channel a touch gets when this rule matches."},
    "raw.costs": {
        "channel": "Channel the cost belongs to as exported (NULL or empty = shared, divided by allocation)."
    },
    "staging.costs": {
        "channel": "Normalised channel of the cost (NULL = shared, divided among channels by allocation)."
    },
    "staging.costs_daily": {
        "channel": "Normalised channel of the cost (NULL = shared).",
        "date": "Day this share of the cost falls on (a cost is spread evenly over its days).",
        "amount": "The day's share of the cost in the reporting currency, at that day's rate.",
        "amount_original": "The day's share of the cost in the export's currency.",
    },
    "staging.channel_map": {
        "channel": "Channel of this combination: the first matching rule's, else direct (nothing says where the visit came from), else other.",
        "platform": "Ad platform (ad-spend rows only; NULL for touches and orders).",
    },
    "staging.customer_touches": {"channel": "Channel of the touch (staging.channel_map)."},
    "staging.touchpoints": {"channel": "Channel of the touch (staging.channel_map)."},
    "staging.missing_fx_rates": {
        "source": "Which input needs the rate: orders, orders (refund), ad_spend or costs.",
        "date": "Day a rate is needed for and missing.",
    },
    "staging.fx_daily": {"date": "Calendar day; the rate is the latest one on or before it."},
    "staging.fx_rates": {"date": "Day the rate was published."},
    "raw.fx_rates": {"date": "Day the rate was published."},
    "raw.ad_spend": {"platform": "Ad platform as the export names it (from the layout for platform exports)."},
    "staging.customers": {"created_at": "When the CRM record was created (UTC)."},
    "raw.customers": {"created_at": "When the CRM record was created (UTC)."},
    "raw.orders": {"created_at": "When the order was placed (UTC)."},
}


def column_text(table: str, column: str) -> str | None:
    return OVERRIDES.get(table, {}).get(column) or COLUMNS.get(column)
