"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-29 04:31:22.033617
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('contact',
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('community', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consent', sa.String(length=16), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('dialog', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_city'), ['city'], unique=False)

    op.create_table('staff_user',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('consent_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_event_contact_id'), ['contact_id'], unique=False)

    op.create_table('contact_urn',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scheme', 'path', name='uq_contact_urn_scheme_path')
    )
    with op.batch_alter_table('contact_urn', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_urn_contact_id'), ['contact_id'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_contact_id'), ['contact_id'], unique=False)

    op.create_table('quiz_attempt',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('quiz_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('question_ids', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('n_questions', sa.Integer(), nullable=False),
    sa.Column('n_correct', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('completed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quiz_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_quiz_attempt_contact_status', ['contact_id', 'status'], unique=False)

    op.create_table('unanswered_question',
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('best_faq_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('best_score', sa.Float(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unanswered_question_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unanswered_question_status'), ['status'], unique=False)

    op.create_table('quiz_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('question_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('option_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['quiz_attempt.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('attempt_id', 'question_id', name='uq_quiz_answer')
    )
    with op.batch_alter_table('quiz_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_answer_attempt_id'), ['attempt_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quiz_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_answer_attempt_id'))

    op.drop_table('quiz_answer')
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unanswered_question_status'))
        batch_op.drop_index(batch_op.f('ix_unanswered_question_contact_id'))

    op.drop_table('unanswered_question')
    with op.batch_alter_table('quiz_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_quiz_attempt_contact_status')

    op.drop_table('quiz_attempt')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_contact_id'))

    op.drop_table('message')
    with op.batch_alter_table('contact_urn', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_urn_contact_id'))

    op.drop_table('contact_urn')
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_event_contact_id'))

    op.drop_table('consent_event')
    op.drop_table('staff_user')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_city'))

    op.drop_table('contact')
