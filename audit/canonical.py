"""The canonical JSON of an event's detail: sorted keys, no spaces, Django's encoder for
dates, decimals and UUIDs. Stored as decoded from this encoding, so what is read back is what
a hash over it (the tamper-evident trail, next) will see."""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def canonical(value: dict[str, Any] | None) -> dict[str, Any]:
    """``value`` as it reads back after its canonical encoding (tuples become lists, dates
    strings); raises TypeError for anything JSON cannot hold."""
    return json.loads(canonical_json(value or {}))
