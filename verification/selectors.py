from dataclasses import dataclass

from .models import Evidence


@dataclass(frozen=True)
class EvidenceSummary:
    score: int
    factors: frozenset[str]
    methods: frozenset[str]


def evidence_summary(*, case) -> EvidenceSummary:
    """Score of the passed checks; each factor counts once, at its strongest check."""
    best: dict[str, int] = {}
    methods: set[str] = set()
    for factor, method, score in Evidence.objects.filter(
        case=case, outcome=Evidence.Outcome.PASSED
    ).values_list("factor", "method", "score"):
        best[factor] = max(best.get(factor, 0), score)
        methods.add(method)
    return EvidenceSummary(
        score=sum(best.values()), factors=frozenset(best), methods=frozenset(methods)
    )
