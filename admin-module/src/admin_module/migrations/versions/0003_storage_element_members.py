"""storage element members: члены реплицированных элементов хранения

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Члены логического элемента (docs/replication.md §8); автономные элементы строк здесь не имеют.
    op.create_table('storage_element_members',
    sa.Column('element_id', sa.String(length=100), nullable=False),
    sa.Column('member_id', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('api_url', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('info', sa.JSON(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['element_id'], ['storage_elements.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_index(op.f('ix_storage_element_members_element_id'), 'storage_element_members', ['element_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_storage_element_members_element_id'), table_name='storage_element_members')
    op.drop_table('storage_element_members')
