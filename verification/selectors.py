from dataclasses import dataclass

from directory.models import Identity, RiskTier

from .models import Evidence


@dataclass(frozen=True)
class EvidenceSummary:
    score: int
    factors: frozenset[str]
    methods: frozenset[str]


def evidence_summary(*, case) -> EvidenceSummary:
    """Score of the passed checks; each factor counts once, at its strongest check. A case
    released by security is verified afresh: evidence from before the release no longer counts.
    """
    best: dict[str, int] = {}
    methods: set[str] = set()
    passed = Evidence.objects.filter(case=case, outcome=Evidence.Outcome.PASSED)
    if case.released_at is not None:
        passed = passed.filter(checked_at__gt=case.released_at)
    for factor, method, score in passed.values_list("factor", "method", "score"):
        best[factor] = max(best.get(factor, 0), score)
        methods.add(method)
    return EvidenceSummary(
        score=sum(best.values()), factors=frozenset(best), methods=frozenset(methods)
    )


def evidence_holder_id(subject: Identity) -> int:
    """Whose authenticators prove the claim: the subject's, or for a service identity its
    registered human owner's (docs/design.md "Policy": recovered only through that owner). The
    database holds that every service identity has an owner (service_identity_has_owner).
    """
    if subject.risk_tier != RiskTier.SERVICE:
        return subject.pk
    assert subject.owner_id is not None
    return subject.owner_id
