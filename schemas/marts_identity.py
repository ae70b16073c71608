"""Pandera (polars) models of the identity tables (docs/metrics.md "Customer identity"): marts.customers and
quality.identity_conflicts. Their descriptions become the warehouse comments (pipelines.core.table_comments)."""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa


class Customers(pa.DataFrameModel):
    customer_key: str = pa.Field(
        unique=True,
        description="Resolved customer: its connected component's CRM id (crm:<id>; the smallest one when "
        "several CRM records met), else its smallest identifier (email:<hash>, phone:<hash>, "
        "visitor:<id>); order:<id> when the order carried no usable identifier. The key every mart "
        "uses.",
    )
    crm_ids: str = pa.Field(
        nullable=True,
        description="The CRM customer ids in the component, comma-separated in order; NULL when it has none (a guest)",
    )
    crm_id_count: int = pa.Field(
        ge=0,
        description="How many CRM ids the component holds; more than 1 = CRM records merged (quality.identity_conflicts, kind 'crm_merge')",
    )
    email_count: int = pa.Field(ge=0, description="Distinct e-mail keys linked to the customer")
    phone_count: int = pa.Field(ge=0, description="Distinct phone keys linked to the customer")
    visitor_count: int = pa.Field(
        ge=0, description="Distinct web visitor / analytics client ids linked to the customer"
    )
    first_order_id: str = pa.Field(
        nullable=True,
        description="The customer's first valid order (marts.first_purchases); NULL when the customer never bought (one per customer: the key is customer_key)",
    )
    first_purchase_ts: dt.datetime = pa.Field(nullable=True, description="When the first purchase was placed")
    first_purchase_date: dt.date = pa.Field(nullable=True, description="Date of the first purchase")
    acquisition_month: dt.date = pa.Field(
        nullable=True, description="First day of the first purchase's month: the customer's cohort"
    )
    channel: str = pa.Field(
        nullable=True,
        description="Acquisition channel: the one the default attribution model credits most for the first purchase",
    )

    class Config:
        name = "marts.customers"
        description = (
            "One row per resolved customer (a connected component of the identity graph built from orders, CRM "
            "records and identified touches): CRM ids, linked e-mails/phones/visitors, first purchase and channel"
        )


class IdentityConflicts(pa.DataFrameModel):
    kind: str = pa.Field(
        isin=["too_common", "crm_merge"],
        description="too_common = an identifier seen with more than identity.max_links distinct e-mails or CRM "
        "ids, ignored for linking (a call-centre phone, a shared office e-mail); crm_merge = "
        "several CRM ids found to be one person, merged",
    )
    identifier: str = pa.Field(
        description="too_common: the identifier (<kind>:<value>, e-mails and phones as keyed hashes); crm_merge: the merged customer's key"
    )
    identifier_kind: str = pa.Field(
        isin=["crm", "email", "phone", "visitor"], description="Kind of the identifier: crm, email, phone, visitor"
    )
    customer_key: str = pa.Field(
        nullable=True,
        description="crm_merge: the key the CRM ids were merged under; NULL for too_common (it belongs to no one)",
    )
    linked_emails: int = pa.Field(
        nullable=True, ge=0, description="too_common: distinct e-mails it appeared with; NULL for crm_merge"
    )
    linked_crm_ids: int = pa.Field(
        nullable=True,
        ge=0,
        description="too_common: distinct CRM ids it appeared with; crm_merge: how many CRM ids were merged",
    )
    crm_id_list: str = pa.Field(
        nullable=True, description="crm_merge: the merged CRM ids, comma-separated in order; NULL for too_common"
    )
    records: int = pa.Field(
        ge=1,
        description="Records (orders, CRM records, identified touches) that carried the identifier, or that make up the merged customer",
    )

    class Config:
        name = "quality.identity_conflicts"
        description = (
            "Identity graph conflicts: identifiers too common to link on, and CRM records merged into one customer"
        )


TABLES: list[type[pa.DataFrameModel]] = [Customers, IdentityConflicts]
