"""wave previews: a planner's test run of a draft wave, apart from invitations and responses

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 23:50:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wave_previews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('current_page', sa.String(length=64), nullable=True),
    sa.Column('pages_done', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('revision', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['wave_id'], ['waves.id'], name=op.f('fk_wave_previews_wave_id_waves'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wave_previews')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_wave_previews_token_hash'))
    )
    with op.batch_alter_table('wave_previews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wave_previews_wave_id'), ['wave_id'], unique=False)


def downgrade():
    with op.batch_alter_table('wave_previews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wave_previews_wave_id'))

    op.drop_table('wave_previews')
