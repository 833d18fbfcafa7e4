"""redline's database: tables, engine and queries. Imports nothing from tracker or feeds."""

from storage.db import (
    DEFAULT_DB_URL,
    PoolSettings,
    database_url,
    ensure_intact,
    make_engine,
    transaction,
)
from storage.errors import DatabaseDamaged, DatabaseURLError, SchemaError, StorageError
from storage.models import (
    Change,
    Check,
    Delivery,
    Item,
    ItemAlias,
    ItemMatch,
    ItemSighting,
    Source,
    Subscription,
    ThreadPost,
    Version,
    VersionArchive,
)
from storage.schema import ensure_schema, schema_state, upgrade
from storage.types import MAX_ID, parse_id, utcnow

__all__ = [
    "DEFAULT_DB_URL",
    "MAX_ID",
    "Change",
    "DatabaseDamaged",
    "DatabaseURLError",
    "PoolSettings",
    "SchemaError",
    "StorageError",
    "Check",
    "Delivery",
    "Item",
    "ItemAlias",
    "ItemMatch",
    "ItemSighting",
    "Source",
    "Subscription",
    "ThreadPost",
    "Version",
    "VersionArchive",
    "database_url",
    "ensure_intact",
    "ensure_schema",
    "make_engine",
    "parse_id",
    "schema_state",
    "transaction",
    "upgrade",
    "utcnow",
]
