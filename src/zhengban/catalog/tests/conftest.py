import json
from pathlib import Path

import pytest

from zhengban.catalog.models import (
    Product,
    ProductFamily,
    ProductVersion,
    Publisher,
    RecognitionRule,
    SwidTag,
)

FIXTURE = Path(__file__).parent / "fixtures" / "mini-catalog.json"


@pytest.fixture
def fixture_doc() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
def empty_catalog(db) -> None:
    """Remove the shipped catalog (loaded at migrate) so tests control every row."""
    # Raw deletes: no other app has rows pointing at the catalog in these tests, and the
    # deletion collector would otherwise visit every app's relations to Product.
    for model in (
        RecognitionRule,
        SwidTag,
        ProductVersion,
        Product.components.through,
        Product,
        ProductFamily,
        Publisher,
    ):
        model.objects.all()._raw_delete(model.objects.db)
