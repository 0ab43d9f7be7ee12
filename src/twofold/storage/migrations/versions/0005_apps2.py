"""applications, second round: the methods a session's sign-in used (RFC 8176 amr)

Revision ID: 0005_apps2
Revises: 0004_life
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_apps2"
down_revision = "0004_life"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amr", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("amr")
