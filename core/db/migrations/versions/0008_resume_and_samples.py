"""continued jobs and sample answers: parent_job_id, resume_from_step, samples

Revision ID: 0008_resume_and_samples
Revises: 0007_deleted_jobs

`training_jobs.parent_job_id` names the job a job was retried from or continues (no foreign key:
deleting a parent leaves its children, which then show "parent deleted"); `resume_from_step` is
the checkpoint step a continued job starts from. `samples` holds the answers the trainer
generated for the run's sample prompts at each evaluation (SPEC §3), unique on
(job_id, step, prompt_index) so a point seen twice is stored once.
Team mode: row security like metric points (a sample is yours when its job is), and the roles
already added get on the new table what they hold on `metrics_points`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db.row_security import SAMPLES_RULE, protect, quote, unprotect

revision: str = "0008_resume_and_samples"
down_revision: str | Sequence[str] | None = "0007_deleted_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("training_jobs", sa.Column("parent_job_id", sa.String(length=36), nullable=True))
    op.add_column("training_jobs", sa.Column("resume_from_step", sa.Integer(), nullable=True))
    op.create_index("ix_training_jobs_parent", "training_jobs", ["parent_job_id"], unique=False)
    op.create_table(
        "samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["training_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "step", "prompt_index", name="uq_samples_job_step_prompt"),
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        protect(conn, "samples", *SAMPLES_RULE)
        grants = conn.execute(
            sa.text(
                "SELECT pg_get_userbyid(a.grantee) AS role, string_agg(a.privilege_type, ', ') AS privileges "
                "FROM pg_class c, aclexplode(c.relacl) a "
                "WHERE c.oid = to_regclass('metrics_points') AND a.grantee NOT IN (0, c.relowner) "
                "AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE') GROUP BY a.grantee"
            )
        )
        for role, privileges in list(grants):
            conn.exec_driver_sql(f"GRANT {privileges} ON samples TO {quote(conn, role)}")
            conn.exec_driver_sql(f"GRANT USAGE, SELECT ON SEQUENCE samples_id_seq TO {quote(conn, role)}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        unprotect(conn, "samples")
    op.drop_table("samples")
    op.drop_index("ix_training_jobs_parent", table_name="training_jobs")
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_column("resume_from_step")
        batch_op.drop_column("parent_job_id")
