"""Alembic migrations of the API's event index (run at start-up by `zkai.api.db_migrate`)."""
