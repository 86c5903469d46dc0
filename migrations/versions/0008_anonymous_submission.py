"""anonymous submission: sealed pending submissions, released to responses in batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 23:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_submissions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['wave_id'], ['waves.id'], name=op.f('fk_pending_submissions_wave_id_waves'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_submissions'))
    )
    with op.batch_alter_table('pending_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_submissions_wave_id'), ['wave_id'], unique=False)


def downgrade():
    # Sealed submissions are answers nobody else has: refuse rather than drop them.
    waiting = op.get_bind().execute(sa.text('SELECT count(*) FROM pending_submissions')).scalar_one()
    if waiting:
        raise RuntimeError(
            f'{waiting} submissions are waiting for their anonymous batch: close their waves '
            '(surveyapp wave close) before downgrading'
        )
    with op.batch_alter_table('pending_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_submissions_wave_id'))
    op.drop_table('pending_submissions')
