"""Render the transition table as Mermaid, so the picture can never drift from the code."""

from .states import State
from .transitions import TRANSITIONS


def mermaid() -> str:
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for transition in TRANSITIONS.values():
        for source in sorted(transition.sources, key=State.values.index):
            for target in transition.targets:
                lines.append(f"    {source} --> {target}: {transition.name} ({transition.actor})")
    for state in ("completed", "rejected", "cancelled", "expired"):
        lines.append(f"    {state} --> [*]")
    return "\n".join(lines)


def lifecycle_document() -> str:
    rows = "\n".join(
        f"| `{t.name}` | {', '.join(f'`{s}`' for s in sorted(t.sources, key=State.values.index))}"
        f" | {', '.join(f'`{s}`' for s in t.targets)} | {t.actor} | {t.when} |"
        for t in TRANSITIONS.values()
    )
    return (
        "# Case lifecycle\n\n"
        "Generated from `cases/transitions.py` by `make diagram`; "
        "a test fails when it is stale.\n\n"
        f"```mermaid\n{mermaid()}\n```\n\n"
        "| transition | from | to | who | when |\n|---|---|---|---|---|\n"
        f"{rows}\n"
    )
