"""Storage: SQLAlchemy 2 tables, engine factory, Alembic migrations."""
