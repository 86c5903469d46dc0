"""drafts sealed: answers, pages done and current page as one AES-GCM ciphertext

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-08 00:00:00

Drafts in progress are sealed with the running app's keys (``surveyapp.crypto``, from
``DRAFT_KEY`` or ``SECRET_KEY``): run this with the production configuration, as the release
command does. The time of a draft's last save goes (it could be matched to a response's day).
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _keys():
    from surveyapp.crypto import keys

    return keys(current_app.config)


def upgrade():
    from surveyapp.crypto import DraftContents

    with op.batch_alter_table('draft_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed', sa.Text(), nullable=True))
    drafts = sa.table(
        'draft_answers',
        sa.column('id', sa.Integer()),
        sa.column('invitation_id', sa.Integer()),
        sa.column('answers', JSON_TYPE),
        sa.column('pages_done', JSON_TYPE),
        sa.column('current_page', sa.String(64)),
        sa.column('sealed', sa.Text()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(drafts.c.id, drafts.c.invitation_id, drafts.c.answers, drafts.c.pages_done, drafts.c.current_page)
    ).all()
    if rows:
        keys = _keys()
        for draft_id, invitation_id, answers, pages_done, current_page in rows:
            contents = DraftContents(dict(answers or {}), list(pages_done or []), current_page)
            connection.execute(
                drafts.update().where(drafts.c.id == draft_id).values(sealed=keys.seal_draft(invitation_id, contents))
            )
    with op.batch_alter_table('draft_answers', schema=None) as batch_op:
        batch_op.alter_column('sealed', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('answers')
        batch_op.drop_column('pages_done')
        batch_op.drop_column('current_page')
        batch_op.drop_column('updated_at')


def downgrade():
    with op.batch_alter_table('draft_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers', JSON_TYPE, nullable=True))
        batch_op.add_column(sa.Column('current_page', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pages_done', JSON_TYPE, nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    drafts = sa.table(
        'draft_answers',
        sa.column('id', sa.Integer()),
        sa.column('invitation_id', sa.Integer()),
        sa.column('answers', JSON_TYPE),
        sa.column('pages_done', JSON_TYPE),
        sa.column('current_page', sa.String(64)),
        sa.column('updated_at', sa.DateTime(timezone=True)),
        sa.column('sealed', sa.Text()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(drafts.c.id, drafts.c.invitation_id, drafts.c.sealed)).all()
    now = datetime.now(timezone.utc)
    if rows:
        keys = _keys()
        for draft_id, invitation_id, sealed in rows:
            contents = keys.open_draft(invitation_id, sealed)
            connection.execute(
                drafts.update()
                .where(drafts.c.id == draft_id)
                .values(
                    answers=contents.answers,
                    pages_done=contents.pages_done,
                    current_page=contents.current_page,
                    updated_at=now,
                )
            )
    with op.batch_alter_table('draft_answers', schema=None) as batch_op:
        batch_op.alter_column('answers', existing_type=JSON_TYPE, nullable=False)
        batch_op.alter_column('pages_done', existing_type=JSON_TYPE, nullable=False)
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_column('sealed')
