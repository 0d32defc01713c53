"""audit file events: id события в журнале аудита и индекс по цели

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Файловые операции приходят в журнал событиями потока {ns}:events (группа admin-audit): уникальный
    # event_id делает повторную доставку безвредной. Новый столбец без значения по умолчанию не переписывает
    # строки — триггер «только дописывать» на UPDATE не срабатывает.
    op.add_column('audit_log', sa.Column('event_id', sa.String(length=64), nullable=True))
    op.create_unique_constraint(op.f('audit_log_event_id_key'), 'audit_log', ['event_id'])
    op.create_index('ix_audit_log_target', 'audit_log', ['target_type', 'target_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_target', table_name='audit_log')
    op.drop_constraint(op.f('audit_log_event_id_key'), 'audit_log', type_='unique')
    op.drop_column('audit_log', 'event_id')
