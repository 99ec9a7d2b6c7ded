"""Storage: SQLAlchemy 2 models, Alembic migrations and repositories (I/O edge)."""
