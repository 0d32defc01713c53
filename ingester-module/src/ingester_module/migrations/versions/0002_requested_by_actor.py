"""кто запросил перенос: тип и имя действующего лица (для actor события и журнала аудита)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Сага пишет событие file_finalized/file_transferred, возможно уже после перезапуска ingester: кто её
    # запросил, знает только строка журнала саги. Прежние строки — без типа и имени (в событии — только id).
    # Таблицу, созданную ещё create_all (см. 0001), мог сделать код, уже знавший эти столбцы — не дублируем.
    have = {c['name'] for c in sa.inspect(op.get_bind()).get_columns('ingester_transactions')}
    if 'requested_by_type' not in have:
        op.add_column('ingester_transactions', sa.Column('requested_by_type', sa.String(32), nullable=True))
    if 'requested_by_name' not in have:
        op.add_column('ingester_transactions', sa.Column('requested_by_name', sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column('ingester_transactions', 'requested_by_name')
    op.drop_column('ingester_transactions', 'requested_by_type')
