"""Durable state: one SQLite file, versioned migrations, transactions run on one thread."""

from edge.db.database import Database, Durability
from edge.db.migrations import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Database", "Durability"]
