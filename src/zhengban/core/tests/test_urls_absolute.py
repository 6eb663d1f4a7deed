import pytest
from django.test import override_settings
from django.urls import reverse

from zhengban.core.urls_absolute import absolute_url


def test_default_site_url_comes_from_settings():
    from django.conf import settings

    assert absolute_url("/orgs/") == f"{settings.SITE_URL}/orgs/"


@override_settings(SITE_URL="https://zb.example.gov.cn")
def test_reversed_path_becomes_absolute():
    path = reverse("orgs:submission_unit", args=[7, 2026])
    assert absolute_url(path) == f"https://zb.example.gov.cn{path}"
    assert absolute_url("relative/x?y=1") == "https://zb.example.gov.cn/relative/x?y=1"


@override_settings(SITE_URL="https://gw.example.gov.cn:8443/zhengban")
def test_site_prefix_is_added_once():
    assert absolute_url("/orgs/units/") == "https://gw.example.gov.cn:8443/zhengban/orgs/units/"
    # reverse() under FORCE_SCRIPT_NAME already carries the prefix.
    assert (
        absolute_url("/zhengban/orgs/units/")
        == "https://gw.example.gov.cn:8443/zhengban/orgs/units/"
    )
    assert absolute_url("/zhengban") == "https://gw.example.gov.cn:8443/zhengban/"
    # A path that merely starts with the same letters is not the prefix.
    assert absolute_url("/zhengbanx/") == "https://gw.example.gov.cn:8443/zhengban/zhengbanx/"


@pytest.mark.parametrize("path", ["//evil.example.com/x", "https://evil.example.com/x"])
def test_other_hosts_are_refused(path):
    with pytest.raises(ValueError, match="not a path on this site"):
        absolute_url(path)


@override_settings(SITE_URL="zb.example.gov.cn")
def test_site_url_without_scheme_is_refused():
    with pytest.raises(ValueError, match="SITE_URL must be"):
        absolute_url("/x/")
