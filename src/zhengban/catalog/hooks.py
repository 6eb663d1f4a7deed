"""What the catalog needs from the layer that stores installs, without importing it.

The catalog sits below inventory: inventory imports the catalog (to recognise records), never
the other way round. Three catalog features still need install data: the unrecognised queue
(ranked by device count), the "devices that have this product" section of a product page, and
re-applying recognition to existing installs after a rule changes. Inventory provides that
data by registering one :class:`InstallProvider` from its ``AppConfig.ready()``::

    from zhengban.catalog.hooks import InstallProvider, register_install_provider

    register_install_provider(InstallProvider(
        unrecognised_records=...,  # see the field docs below
        product_devices=...,
        count_raw_groups=...,
        raw_groups=...,
        apply_products=...,
    ))

Without a provider (a catalog-only deployment, or before inventory is installed) the queue is
empty, the product page says that no install data is available, and a re-apply job finishes at
once with nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InstallProvider:
    # (*, user) -> iterable of {"name", "publisher", "version", "platform", "devices"}: the
    # distinct raw records of installs WITHOUT a recognised product that ``user`` may see,
    # "devices" being how many distinct devices report that exact record. The platform is the
    # one recognition used (windows | linux | macos | "").
    unrecognised_records: Callable[..., Iterable[Mapping[str, Any]]]
    # (*, user, product_id, limit) -> (device count, rows): the devices within ``user``'s scope
    # that have an install recognised as the product; rows are at most ``limit`` mappings with
    # "id", "name" (host name), "unit" (unit name), "version" (installed version, or
    # several joined) and "url" (the device page).
    product_devices: Callable[..., tuple[int, Sequence[Mapping[str, Any]]]]
    # (*, unrecognised_only) -> int: how many groups raw_groups will yield in all (progress).
    count_raw_groups: Callable[..., int]
    # (*, unrecognised_only, batch_size) -> iterator of batches (lists) of groups. A group is
    # one distinct {"name", "publisher", "version", "platform", "unit_id", "product_id"} over
    # all installs (of every unit: this runs as a background task, not as a person);
    # "product_id" is the currently stored product (None when unrecognised). With
    # unrecognised_only, only groups whose product_id is None.
    raw_groups: Callable[..., Iterator[list[Mapping[str, Any]]]]
    # (*, changes) -> int: store new products. ``changes`` is a list of (group, product_id)
    # pairs, group as yielded by raw_groups; set the product of every install matching the
    # group (same raw fields, same unit, still the old product_id) and return how many
    # installs changed. Called inside the catalog's transaction for the batch.
    apply_products: Callable[..., int]
    # Optional () -> bool: whether any install exists. A catalog import asks before starting
    # a re-apply job; without it the import counts the groups (count_raw_groups), which is a
    # scan of every install where an existence check is one index probe.
    has_installs: Callable[[], bool] | None = None


_provider: InstallProvider | None = None


def register_install_provider(provider: InstallProvider | None) -> None:
    """Register (or, with None, remove) the install provider. The last registration wins."""
    global _provider
    _provider = provider


def install_provider() -> InstallProvider | None:
    return _provider
