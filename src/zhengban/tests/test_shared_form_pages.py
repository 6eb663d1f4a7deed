"""Every simple create/edit page renders the one shared form template (core/form.html) with
its own title, return link and button text."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from zhengban.catalog.models import Product, Publisher
from zhengban.licensing.testing import make_device
from zhengban.orgs import responsibility


def page(user, url: str) -> tuple[str, list[str]]:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), [t.name for t in response.templates]


@pytest.fixture
def pages(org):
    """(user, url, title, back link or None, submit label) of each page."""
    device = make_device(org.unit_a, "PC-001")
    member = responsibility.add_mechanism_member(
        actor=org.supervisor_a, region=org.city_a, role="member", person_name="王五"
    )
    winrar = Product.objects.get(key="winrar")
    microsoft = Publisher.objects.get(key="microsoft")
    unit, city = org.unit_a, org.city_a
    return [
        (org.sysadmin, reverse("orgs:unit_create"), "新建单位", None, "保存"),
        (
            org.officer_a,
            reverse("orgs:unit_edit", args=[unit.pk]),
            f"编辑单位：{unit.name}",
            (reverse("orgs:unit_detail", args=[unit.pk]), f"返回{unit.name}"),
            "保存",
        ),
        (
            org.officer_a,
            reverse("orgs:meeting_create", args=[unit.pk]),
            f"记录部署会议：{unit.name}",
            (reverse("orgs:unit_detail", args=[unit.pk]), f"返回{unit.name}"),
            "保存",
        ),
        (
            org.supervisor_a,
            reverse("orgs:mechanism_add", args=[city.pk]),
            f"添加工作机制成员：{city.name}",
            (reverse("orgs:region_detail", args=[city.pk]), f"返回{city.name}"),
            "保存",
        ),
        (
            org.supervisor_a,
            reverse("orgs:mechanism_edit", args=[member.pk]),
            f"编辑工作机制成员：{city.name}",
            (reverse("orgs:region_detail", args=[city.pk]), f"返回{city.name}"),
            "保存",
        ),
        (
            org.supervisor_province,
            reverse("catalog:product_create"),
            "新建产品",
            (reverse("catalog:product_list"), "返回"),
            "保存",
        ),
        (
            org.supervisor_province,
            reverse("catalog:product_edit", args=[winrar.pk]),
            f"编辑产品 {winrar.name}",
            (reverse("catalog:product_detail", args=[winrar.pk]), "返回"),
            "保存",
        ),
        (
            org.supervisor_province,
            reverse("catalog:publisher_create"),
            "新建发行商",
            (reverse("catalog:publisher_list"), "返回"),
            "保存",
        ),
        (
            org.supervisor_province,
            reverse("catalog:publisher_edit", args=[microsoft.pk]),
            f"编辑发行商 {microsoft}",
            (reverse("catalog:publisher_list"), "返回"),
            "保存",
        ),
        (
            org.officer_a,
            reverse("inventory:device_edit", args=[device.pk]),
            "编辑终端 PC-001",
            (reverse("inventory:device_detail", args=[device.pk]), "返回"),
            "保存",
        ),
        (
            org.officer_a,
            reverse("inventory:token_create"),
            "新建令牌",
            (reverse("inventory:token_list"), "返回"),
            "创建",
        ),
    ]


def test_form_pages_share_one_template(pages):
    for user, url, title, back, submit in pages:
        content, templates = page(user, url)
        assert "core/form.html" in templates, url
        assert f"<title>{title}" in html.unescape(content), url
        assert f"<h1>{title}</h1>" in html.unescape(content), url
        if back is None:
            assert 'data-testid="back"' not in content, url
        else:
            link = f'<a href="{back[0]}" data-testid="back">{back[1]}</a>'
            assert link in html.unescape(content), url
        assert f'<button type="submit" data-testid="submit">{submit}</button>' in content, url
