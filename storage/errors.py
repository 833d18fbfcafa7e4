"""The storage layer's errors; the message is written for the user."""


class StorageError(Exception):
    """The database cannot be used as asked: a bad URL, a schema of another version."""


class DatabaseURLError(StorageError):
    """The database URL names nothing redline can open."""


class SchemaError(StorageError):
    """The database's schema is not the one this code works with; the message says why."""


class DatabaseDamaged(StorageError):
    """The SQLite file fails its integrity check: writing to it would spread the damage."""
