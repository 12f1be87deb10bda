"""outbox claim indexes: what is due and what a dead worker left, partial and in claim order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 08:17:09.975815
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_due')
        batch_op.create_index('ix_outbox_due', ['channel', 'due_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('pending', 'unknown')"), sqlite_where=sa.text("status IN ('pending', 'unknown')"))
        batch_op.create_index('ix_outbox_lease', ['channel', 'lease_until'], unique=False, postgresql_where=sa.text("status = 'sending'"), sqlite_where=sa.text("status = 'sending'"))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_lease', postgresql_where=sa.text("status = 'sending'"), sqlite_where=sa.text("status = 'sending'"))
        batch_op.drop_index('ix_outbox_due', postgresql_where=sa.text("status IN ('pending', 'unknown')"), sqlite_where=sa.text("status IN ('pending', 'unknown')"))
        batch_op.create_index('ix_outbox_status_due', ['status', 'due_at'], unique=False)

