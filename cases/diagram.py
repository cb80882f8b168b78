"""Render the transition table as Mermaid and a table of rules, so the picture can never
drift from the code."""

from .states import TERMINAL_STATES, State
from .transitions import TRANSITIONS


def _states(states) -> str:
    return ", ".join(f"`{s}`" for s in sorted(states, key=State.values.index))


def mermaid() -> str:
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for transition in TRANSITIONS.values():
        for source in sorted(transition.sources, key=State.values.index):
            for target in transition.targets:
                lines.append(f"    {source} --> {target}: {transition.name}")
    for state in sorted(TERMINAL_STATES, key=State.values.index):
        lines.append(f"    {state} --> [*]")
    return "\n".join(lines)


def lifecycle_document() -> str:
    rows = "\n".join(
        f"| `{t.name}` | {_states(t.sources)} | {_states(t.targets) or '(stays)'}"
        f" | {t.actor.label} | {', '.join(f'`{g.__name__}`' for g in t.guards) or '-'}"
        f" | {t.when} |"
        for t in TRANSITIONS.values()
    )
    return (
        "# Case lifecycle\n\n"
        "Generated from `cases/transitions.py` by `make diagram`; "
        "a test fails when it is stale. The rules behind each column are in "
        "`cases/access.py` (who) and `cases/guards.py` (guards); docs/design.md explains them.\n\n"
        f"```mermaid\n{mermaid()}\n```\n\n"
        "| action | from | to | who | guards | when |\n|---|---|---|---|---|---|\n"
        f"{rows}\n"
    )
