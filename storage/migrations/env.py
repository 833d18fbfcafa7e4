"""Alembic's environment: run migrations on the connection storage.schema hands over.

Developers can also run the `alembic` command from the repository root (alembic.ini);
the database is then REDLINE_DB, as for every redline command.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.db import database_url
from storage.models import SQLModel

target_metadata = SQLModel.metadata


def run_migrations(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters a table by copying it; batch mode writes migrations that way.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with create_engine(database_url()).connect() as own_connection:
        run_migrations(own_connection)
        own_connection.commit()
