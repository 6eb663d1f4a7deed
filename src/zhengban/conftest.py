import pytest
from pytest_django.plugin import blocking_manager_key

from zhengban.core.testing import set_audit_log_triggers
from zhengban.orgs.testing import OrgTree, build_org_tree


@pytest.fixture
def org(db) -> OrgTree:
    return build_org_tree()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Transactional tests (live server, browser, real agents) end with Django flushing every
    table, which the audit log's append-only triggers rightly refuse: the triggers are lifted
    around that teardown and put back for the next test."""
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (len(marker.args) > 0 and marker.args[0])
    )
    if not transactional:
        yield
        return
    blocker = item.config.stash[blocking_manager_key]
    with blocker.unblock():
        set_audit_log_triggers(enabled=False)
    try:
        yield
    finally:
        # After the session's last test the test database is already destroyed.
        if nextitem is not None:
            with blocker.unblock():
                set_audit_log_triggers(enabled=True)
