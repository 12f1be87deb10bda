"""link_request: phone-link codes asked for (the limits per chat and per number count
them); place_asked: places people live in that the regions list lacks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('link_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('phone_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('link_request', schema=None) as batch_op:
        batch_op.create_index('ix_link_request_contact', ['contact_id', 'created_at'], unique=False)
        batch_op.create_index('ix_link_request_phone', ['phone_digest', 'created_at'], unique=False)

    op.create_table('place_asked',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('place_asked', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_place_asked_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_place_asked_key', ['city', 'key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('place_asked', schema=None) as batch_op:
        batch_op.drop_index('ix_place_asked_key')
        batch_op.drop_index(batch_op.f('ix_place_asked_contact_id'))
    op.drop_table('place_asked')
    with op.batch_alter_table('link_request', schema=None) as batch_op:
        batch_op.drop_index('ix_link_request_phone')
        batch_op.drop_index('ix_link_request_contact')
    op.drop_table('link_request')
