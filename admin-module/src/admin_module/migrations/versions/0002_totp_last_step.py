"""totp last step: защита от повторного использования кода TOTP

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Последний принятый шаг TOTP (unix-время // 30): код того же или более раннего шага второй раз не примем.
    op.add_column('admin_users', sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('admin_users', 'totp_last_step')
