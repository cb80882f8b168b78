"""Separation of duties held by the database against the case row itself.

The check constraints of 0001 compare the approver with copies of the opener and verifier
that the writer supplies. This trigger reads the case and its subject when an approval is
written, and refuses it when the approver opened, verified or works the case, is the
subject's own staff account (or the staff account of the owner of a service identity), or
when the copies differ from the case. The service checks the same rules first, with a
sentence a person can act on; the trigger is for every other writer.
"""

from django.db import migrations

NAME = "approval_separation_of_duties"
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


POSTGRESQL = f"""
CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS ({_breaks_rule("IS DISTINCT FROM")}) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER {NAME} BEFORE INSERT OR UPDATE ON approvals_approval
    FOR EACH ROW EXECUTE FUNCTION {NAME}();
"""
POSTGRESQL_REVERSE = f"""
DROP TRIGGER {NAME} ON approvals_approval;
DROP FUNCTION {NAME}();
"""


def _sqlite_trigger(event: str) -> str:
    return f"""
CREATE TRIGGER {NAME}_{event.lower()} BEFORE {event} ON approvals_approval
WHEN EXISTS ({_breaks_rule("IS NOT")})
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END"""


SQLITE = [_sqlite_trigger("INSERT"), _sqlite_trigger("UPDATE")]
SQLITE_REVERSE = [f"DROP TRIGGER {NAME}_insert", f"DROP TRIGGER {NAME}_update"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements_by_vendor:
            raise RuntimeError(f"No separation-of-duties trigger for {vendor}.")
        statements = statements_by_vendor[vendor]
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
        ("cases", "0003_role_view_permissions"),
        ("directory", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        )
    ]
