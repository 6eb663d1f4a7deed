import pytest

from zhengban.orgs.testing import OrgTree, build_org_tree


@pytest.fixture
def org(db) -> OrgTree:
    return build_org_tree()
