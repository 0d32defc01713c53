"""журнал саг переноса ingester_transactions

Revision ID: 0001
Revises:
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # До миграций таблицу создавал create_all: на таких базах она уже есть — принимаем её как есть.
    if sa.inspect(op.get_bind()).has_table('ingester_transactions'):
        return
    op.create_table(
        'ingester_transactions',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('file_id', sa.String(64), nullable=False),
        sa.Column('source', sa.String(64), nullable=False),
        sa.Column('target', sa.String(64), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('step', sa.String(24), nullable=False),
        sa.Column('error', sa.Text()),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('checksum', sa.String(64)),
        sa.Column('requested_by', sa.String(128)),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_ingester_transactions_file_id', 'ingester_transactions', ['file_id'])
    op.create_index('ix_ingester_transactions_state', 'ingester_transactions', ['state'])


def downgrade() -> None:
    op.drop_table('ingester_transactions')
