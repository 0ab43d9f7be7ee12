"""a principal's console language (issue 15: the Chinese console)

Revision ID: 0009_locale
Revises: 0005_apps2
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_locale"
down_revision = "0005_apps2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.drop_column("locale")
