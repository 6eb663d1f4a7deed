import pytest

from zhengban.governance.testing import GovTree, build_gov_tree


@pytest.fixture
def gov(org) -> GovTree:
    return build_gov_tree(org)
