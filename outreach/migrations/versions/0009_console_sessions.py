"""console: a sign-in name and password hash on staff_user; console_session (server-side
sessions, by the SHA-256 of the cookie's token); sign_in_failure (the lock-out counts them)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 18:28:40.258236
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sign_in_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_failure_login_at', ['login', 'at'], unique=False)

    op.create_table('console_session',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_session_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_session_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.create_unique_constraint('uq_staff_user_login', ['login'])



def downgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_constraint('uq_staff_user_login', type_='unique')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('login')

    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_session_user_id'))
        batch_op.drop_index(batch_op.f('ix_console_session_expires_at'))

    op.drop_table('console_session')
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_sign_in_failure_login_at')

    op.drop_table('sign_in_failure')
