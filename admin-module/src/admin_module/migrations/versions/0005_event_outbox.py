"""outbox событий admin: удаление и приостановка аккаунта доходят до query (отзыв ссылок) и при лежащем Redis

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Столбцы — как у artstore_common.outbox_table: строку пишет EventPublisher, переносит в Redis EventOutbox.
    op.create_table(
        'admin_event_outbox',
        sa.Column('seq', sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column('event_id', sa.String(64), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table('admin_event_outbox')
