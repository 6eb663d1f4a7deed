"""Builders for licensing tests and benchmarks: devices and installs written straight into
the inventory tables (the inventory app's ingest is not what these tests are about)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone

from zhengban.catalog.models import Product
from zhengban.inventory.models import Device, Installation

_products: dict[str, Product] = {}


def product(key: str) -> Product:
    cached = _products.get(key)
    if cached is None or not Product.objects.filter(pk=cached.pk, key=key).exists():
        cached = _products[key] = Product.objects.get(key=key)
    return cached


def make_device(unit: Any, hostname: str, **fields: Any) -> Device:
    now = timezone.now()
    fields.setdefault("device_type", "desktop")
    return Device.objects.create(
        unit=unit,
        hostname=hostname,
        first_seen=now,
        last_seen=now,
        last_source="zhengban_agent",
        **fields,
    )


def install(
    device: Device, product_key: str | None, name: str, version: str = "", kind: str = "application"
) -> Installation:
    raw_key = hashlib.sha1(f"{name}|{version}".encode()).hexdigest()
    return Installation.objects.create(
        device=device,
        kind=kind,
        name=name,
        version=version,
        raw_key=raw_key,
        product=product(product_key) if product_key else None,
        first_seen=timezone.now(),
    )
