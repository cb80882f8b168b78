"""Separation of duties held by the database against the case row itself (a trigger).

The check constraints on ``Approval`` compare the approver with copies of the opener and
verifier that the writer supplies. The trigger reads the case and its subject when an approval
is written, and refuses it when the approver opened, verified or works the case, is the
subject's own staff account (or the staff account of the owner of a service identity), or when
the copies differ from the case. The service checks the same rules first, with a sentence a
person can act on; the trigger is for every other writer.

SQLite alters a table by rebuilding it, which drops the table's triggers, and refuses to
rebuild a table that another table's trigger reads. So on SQLite the trigger is taken away
before every ``migrate`` and put back after it (``approvals/apps.py``). PostgreSQL alters
tables in place and keeps it.
"""

from django.db.backends.base.base import BaseDatabaseWrapper

NAME = "approval_separation_of_duties"
MIGRATION = ("approvals", "0002_separation_of_duties_trigger")
MESSAGE = (
    f"{NAME}: the approver opened, verified or works this case, is its subject, "
    "or the copies of the opener and verifier differ from the case"
)

BREAKS_RULE = """
        SELECT 1 FROM cases_recoverycase c
        JOIN directory_identity s ON s.id = c.subject_id
        LEFT JOIN directory_identity o ON o.id = s.owner_id
        WHERE c.id = NEW.case_id AND (
            NEW.approver_id IN (c.opened_by_id, c.verified_by_id, c.assigned_agent_id)
            OR NEW.approver_id = s.staff_user_id
            OR NEW.approver_id = o.staff_user_id
            OR NEW.case_opened_by_id <distinct> c.opened_by_id
            OR NEW.case_verified_by_id <distinct> c.verified_by_id)"""


def _breaks_rule(distinct: str) -> str:
    """The rule in each dialect's null-safe "differs from"."""
    return BREAKS_RULE.replace("<distinct>", distinct)


POSTGRESQL_CREATE = [
    f"""
CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS ({_breaks_rule("IS DISTINCT FROM")}) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$""",
    f"""
CREATE TRIGGER {NAME} BEFORE INSERT OR UPDATE ON approvals_approval
    FOR EACH ROW EXECUTE FUNCTION {NAME}()""",
]
POSTGRESQL_DROP = [f"DROP TRIGGER {NAME} ON approvals_approval", f"DROP FUNCTION {NAME}()"]


def _sqlite_trigger(event: str) -> str:
    return f"""
CREATE TRIGGER IF NOT EXISTS {NAME}_{event.lower()} BEFORE {event} ON approvals_approval
WHEN EXISTS ({_breaks_rule("IS NOT")})
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END"""


SQLITE_CREATE = [_sqlite_trigger("INSERT"), _sqlite_trigger("UPDATE")]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {NAME}_insert", f"DROP TRIGGER IF EXISTS {NAME}_update"]

STATEMENTS = {
    "postgresql": {"create": POSTGRESQL_CREATE, "drop": POSTGRESQL_DROP},
    "sqlite": {"create": SQLITE_CREATE, "drop": SQLITE_DROP},
}


def run(connection: BaseDatabaseWrapper, action: str) -> None:
    """``create`` or ``drop`` the trigger on this connection's database."""
    if connection.vendor not in STATEMENTS:
        raise RuntimeError(f"No separation-of-duties trigger for {connection.vendor}.")
    with connection.cursor() as cursor:
        for statement in STATEMENTS[connection.vendor][action]:
            cursor.execute(statement)


def sqlite_trigger_names(connection: BaseDatabaseWrapper) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s ORDER BY name",
            [f"{NAME}%"],
        )
        return [row[0] for row in cursor.fetchall()]
