"""Scoping-matrix registrations of the catalog (see zhengban/core/testing.py)."""

from __future__ import annotations

import itertools

_serial = itertools.count(1)


def _matrix_product(unit):
    """An in-house product of ``unit``: the only catalog rows that belong to a unit."""
    from zhengban.catalog.models import Product, ProductFamily

    n = next(_serial)
    family = ProductFamily.objects.create(key=f"matrix-{unit.pk}-{n}", name=f"{unit.name}系统{n}")
    return Product.objects.create(
        key=family.key,
        family=family,
        name=f"{unit.name}自有软件{n}",
        category="industry",
        license_model="commercial",
        local=True,
        owner_unit=unit,
    )


def _matrix_reapply_job(unit):
    from zhengban.catalog.models import ReapplyJob

    return ReapplyJob.objects.create(product=_matrix_product(unit), reason=f"{unit.name}规则")


def _register_matrix() -> None:
    from zhengban.catalog.models import Product, Publisher, ReapplyJob
    from zhengban.core.testing import register_factory, register_unscoped, register_url

    register_factory(Product, _matrix_product)
    register_url("catalog:product_edit", Product)
    register_url("catalog:publisher_edit", Publisher)
    register_factory(ReapplyJob, _matrix_reapply_job)
    register_unscoped(Publisher, "publishers are shared reference data of the whole catalog")


_register_matrix()
