from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from hospes.storage import (  # noqa: F401  (register their tables)
    tables_access,
    tables_bulk,
    tables_cross_tenant,
    tables_dynamic,
    tables_entitlement,
    tables_federation,
    tables_fleet,
    tables_logos,
    tables_provisioning,
    tables_redemption,
    tables_reviews,
    tables_signin,
    tables_sso,
    tables_terms,
    tables_timers,
)
from hospes.storage.tables import Base

config = context.config
url = config.attributes["database_url"]
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
