"""The base layout's menu, rendered once per process for each set of entries, language and
URL prefix (core.navigation.menu_html)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse, set_script_prefix
from django.utils.html import escape

from zhengban.core.navigation import menu_for, menu_html


def nav(page: str) -> str:
    return re.search(r'<nav class="menu">.*?</nav>', page, re.S).group(0)


@pytest.mark.django_db
def test_each_person_gets_the_menu_of_their_own_entries(client, org):
    menus = {}
    for user in (org.supervisor_province, org.officer_a, org.staff_a):
        client.force_login(user)
        response = client.get(reverse("core:home"))
        entries = response.context["nav_menu"]
        html = nav(response.content.decode())
        links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)
        assert links == [
            (reverse(i.url_name), escape(str(i.label))) for g in entries for i in g["items"]
        ]
        labels = re.findall(r'<span class="menu-label">([^<]+)</span>', html)
        assert labels == [escape(str(g["label"])) for g in entries]
        menus[user.username] = html
    assert len(set(menus.values())) == 3


@pytest.mark.django_db
def test_the_rendered_menu_is_reused_and_follows_the_url_prefix(org):
    menu = menu_for(org.officer_a)
    first = menu_html(menu)
    assert menu_html(menu) is first
    assert first.startswith('<nav class="menu">') and first.endswith("</nav>")
    set_script_prefix("/zhengban/")
    try:
        prefixed = menu_html(menu)
    finally:
        set_script_prefix("/")
    assert prefixed == first.replace('href="/', 'href="/zhengban/')
    assert menu_html([]) == ""
