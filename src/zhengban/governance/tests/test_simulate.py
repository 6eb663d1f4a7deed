"""The simulator part on a tiny province: specs adopted from a template, requests, and the
violations and fulfilled requests that real processing makes of the simulated changes."""

import io

import pytest

from zhengban.core.simulation import SimulationContext, SimulationSize, run_all
from zhengban.governance.choices import OPEN_STATUSES, RequestStatus, ViolationKind
from zhengban.governance.models import ConfigurationSpec, SoftwareRequest, Violation
from zhengban.licensing.models import ComplianceResult


@pytest.mark.django_db
def test_simulated_province_has_specs_requests_and_violations():
    ctx = SimulationContext(
        seed=7, size=SimulationSize(cities=1, counties=2, units=30, devices=600), out=io.StringIO()
    )
    run_all(ctx, only={"orgs", "inventory", "governance"})
    shared = ctx.shared["governance"]
    template = ConfigurationSpec.objects.get(pk=shared["template_id"])
    adopted = ConfigurationSpec.objects.filter(adopted_from=template)
    assert adopted.count() == shared["adopting_units"] > 0
    assert all(s.rules.count() == template.rules.count() for s in adopted)
    # Spec violations only where a unit adopted a spec to judge by; of the kinds simulated.
    adopting = set(adopted.values_list("unit_id", flat=True))
    violations = Violation.objects.exclude(kind=ViolationKind.UNLICENSED)
    assert violations.count() == shared["violations"] > 0
    assert {v.unit_id for v in violations} <= adopting
    assert {v.kind for v in violations} <= {
        ViolationKind.UNAUTHORISED_INSTALL,
        ViolationKind.UNAUTHORISED_REMOVAL,
        ViolationKind.PROHIBITED,
    }
    # Licensing (no licences simulated here) finds commercial software unlicensed on every
    # ingest; each open finding is one of licensing's current unlicensed verdicts.
    unlicensed = Violation.objects.filter(kind=ViolationKind.UNLICENSED)
    assert unlicensed.count() == shared["unlicensed"] > 0
    open_findings = set(
        unlicensed.filter(status__in=OPEN_STATUSES).values_list("installation_id", flat=True)
    )
    assert open_findings and open_findings <= set(
        ComplianceResult.objects.filter(status="unlicensed").values_list(
            "installation_id", flat=True
        )
    )
    fulfilled = SoftwareRequest.objects.filter(status=RequestStatus.FULFILLED)
    assert fulfilled.count() == shared["fulfilled"] > 0
    assert all(r.installation is not None for r in fulfilled)
    # An approved install never shows up as a private install as well.
    assert not Violation.objects.filter(
        kind=ViolationKind.UNAUTHORISED_INSTALL,
        device__in=fulfilled.values("device"),
        product__in=fulfilled.values("product"),
    ).exists()
