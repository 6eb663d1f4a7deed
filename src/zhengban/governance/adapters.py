"""The few places governance reads other apps' data that are still being built. Each is one
small function, so wiring a finished service is a one-line change here."""

from __future__ import annotations

from typing import Any

from django.db import models

from zhengban.inventory.choices import InstallationKind
from zhengban.inventory.models import Device, Installation, InstallationEvent


def devices_of(person: Any) -> models.QuerySet[Device]:
    return Device.objects.filter(assigned_user=person)


def current_installations(device: Device) -> models.QuerySet[Installation]:
    return Installation.objects.filter(device=device).select_related("product", "product__family")


def events_of_report(device: Device, report: Any) -> list[InstallationEvent]:
    if report is None:
        return []
    return list(
        InstallationEvent.objects.filter(device=device, report=report)
        .select_related("product", "product__family")
        .order_by("date", "id")
    )


def unlicensed_installations(device: Device) -> list[Installation]:
    """Licensing's verdict for one device: its installs of commercial software with no
    entitlement (licensing recomputes them before governance runs on the same ingest)."""
    from zhengban.licensing.services import unlicensed_installations as licensing_verdicts

    return licensing_verdicts(device=device)


# Installs a person does not choose: components, patches and hidden entries.
JUDGED_KINDS = frozenset({InstallationKind.APPLICATION, InstallationKind.OS})
