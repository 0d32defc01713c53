"""временные ссылки на скачивание query_links

Revision ID: 0001
Revises:
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'query_links',
        sa.Column('id', sa.String(32), primary_key=True),
        sa.Column('file_id', sa.String(64), nullable=False),
        sa.Column('file_size', sa.BigInteger(), nullable=False),
        sa.Column('owner_id', sa.String(128), nullable=False),
        sa.Column('owner_name', sa.String(256), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('max_downloads', sa.Integer()),
        sa.Column('uses', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('bytes_reserved', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('bytes_sent', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('last_used_at', sa.DateTime(timezone=True)),
        sa.Column('revoked_at', sa.DateTime(timezone=True)),
        sa.Column('revoked_by', sa.String(256)),
    )
    op.create_index('ix_query_links_owner_id', 'query_links', ['owner_id'])
    op.create_index('ix_query_links_file_id', 'query_links', ['file_id'])


def downgrade() -> None:
    op.drop_table('query_links')
