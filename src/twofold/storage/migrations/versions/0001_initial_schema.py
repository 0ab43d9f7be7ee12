"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 10:27:31.655411
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mfa_for_login", sa.String(length=16), server_default="per_user", nullable=False),
        sa.Column(
            "allow_users_to_manage_mfa",
            sa.Boolean(),
            server_default=sa.text("(true)"),
            nullable=False,
        ),
        sa.Column("remember_mfa_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("session_hours", sa.Integer(), server_default="12", nullable=False),
        sa.Column("login_networks", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("password_min_length", sa.Integer(), server_default="12", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=True),
        sa.Column("actor_principal_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=True),
        sa.Column("target_principal_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_actor_principal_id"), ["actor_principal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_events_target_principal_id"), ["target_principal_id"], unique=False
        )

    op.create_table(
        "principals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("login", sa.String(length=80), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("mfa_required", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("password_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("password_locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("code_locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_principals_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("account_id", "name", name="uq_principals_account_name"),
        sa.UniqueConstraint("login", name=op.f("uq_principals_login")),
    )
    op.create_table(
        "email_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_email_codes_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_codes")),
    )
    with op.batch_alter_table("email_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_codes_principal_id"), ["principal_id"], unique=False
        )

    op.create_table(
        "login_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_login_challenges_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenges")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_challenges_token_hash")),
    )
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_challenges_principal_id"), ["principal_id"], unique=False
        )

    op.create_table(
        "mfa_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("drift", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_mfa_devices_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_devices")),
        sa.UniqueConstraint("serial", name=op.f("uq_mfa_devices_serial")),
    )
    with op.batch_alter_table("mfa_devices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mfa_devices_principal_id"), ["principal_id"], unique=False
        )
        batch_op.create_index(
            "uq_mfa_devices_one_per_state", ["principal_id", "state"], unique=True
        )

    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_recovery_codes_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_recovery_codes_code_hash")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recovery_codes_principal_id"), ["principal_id"], unique=False
        )

    op.create_table(
        "remembered_browsers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_remembered_browsers_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remembered_browsers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_remembered_browsers_token_hash")),
    )
    with op.batch_alter_table("remembered_browsers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remembered_browsers_principal_id"), ["principal_id"], unique=False
        )

    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restricted", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_sessions_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_sessions_public_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sessions_principal_id"), ["principal_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_principal_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("remembered_browsers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remembered_browsers_principal_id"))

    op.drop_table("remembered_browsers")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_principal_id"))

    op.drop_table("recovery_codes")
    with op.batch_alter_table("mfa_devices", schema=None) as batch_op:
        batch_op.drop_index("uq_mfa_devices_one_per_state")
        batch_op.drop_index(batch_op.f("ix_mfa_devices_principal_id"))

    op.drop_table("mfa_devices")
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_challenges_principal_id"))

    op.drop_table("login_challenges")
    with op.batch_alter_table("email_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_codes_principal_id"))

    op.drop_table("email_codes")
    op.drop_table("principals")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_target_principal_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_principal_id"))
        batch_op.drop_index("ix_audit_events_account_id_id")

    op.drop_table("audit_events")
    op.drop_table("accounts")
