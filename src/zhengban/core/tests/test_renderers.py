"""The Python-written widgets give exactly what Django's widget templates give."""

from __future__ import annotations

import datetime

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from zhengban.core.renderers import FastWidgetRenderer

STOCK = DjangoTemplates()
FAST = FastWidgetRenderer()


class Everything(forms.Form):
    text = forms.CharField(required=False, widget=forms.TextInput(attrs={"class": "a<b"}))
    required_text = forms.CharField(max_length=20)
    number = forms.IntegerField(
        required=False, widget=forms.NumberInput(attrs={"placeholder": _("编号"), "min": 1})
    )
    decimal = forms.DecimalField(required=False, localize=True)
    email = forms.EmailField(required=False)
    url = forms.URLField(required=False, assume_scheme="https")
    password = forms.CharField(required=False, widget=forms.PasswordInput)
    hidden = forms.CharField(required=False, widget=forms.HiddenInput)
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    when = forms.DateTimeField(required=False)
    choice = forms.ChoiceField(
        required=False, choices=[("", "—"), ("a", "甲 <&>"), ("b", 'B "quoted"'), (3, 4)]
    )
    grouped = forms.ChoiceField(
        choices=[("", "---"), ("省级", [("p1", "省一"), ("p2", "省二")]), ("x", "其他")]
    )
    many = forms.MultipleChoiceField(required=False, choices=[("a", "A"), ("b", "B")])
    yes_no = forms.NullBooleanField(required=False)
    disabled = forms.CharField(required=False, disabled=True)
    tick = forms.BooleanField(required=False)  # a checkbox: the template path
    notes = forms.CharField(required=False, widget=forms.Textarea)  # the template path


def render_all(form: forms.Form, renderer) -> dict[str, str]:
    form.renderer = renderer
    return {name: str(form[name]) for name in form.fields}


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {
            "text": "x\"<script>'&",
            "required_text": mark_safe("<b>safe</b>"),
            "number": "12",
            "decimal": "1234.5",
            "email": "a@b.cn",
            "url": "http://例子.cn/?a=1&b=2",
            "password": "secret",
            "hidden": "h",
            "date": "2026-11-27",
            "when": "2026-11-27 08:00",
            "choice": "a",
            "grouped": "p2",
            "many": ["a", "b"],
            "yes_no": "false",
            "tick": "on",
            "notes": "<p>",
        },
        {"choice": "3", "grouped": "x", "yes_no": "true", "number": "not a number"},
    ],
)
def test_fast_widgets_match_djangos_templates(data):
    initial = {"date": datetime.date(2026, 1, 2), "when": datetime.datetime(2026, 1, 2, 3, 4)}
    stock = render_all(Everything(data, initial=initial), STOCK)
    fast = render_all(Everything(data, initial=initial), FAST)
    assert fast == stock


@pytest.mark.django_db
def test_filter_form_of_the_device_list_matches(org):
    from zhengban.inventory.filtersets import DeviceFilterSet

    class Request:
        user = org.officer_a

    for data in (None, {"unit": str(org.unit_a.pk), "q": "<pc>", "unrecognised": "true"}):
        stock = render_all(DeviceFilterSet(data, request=Request).form, STOCK)
        fast = render_all(DeviceFilterSet(data, request=Request).form, FAST)
        assert fast == stock
        assert f'<option value="{org.unit_a.pk}"' in fast["unit"]


def test_the_fast_path_is_taken():
    renderer = FastWidgetRenderer()
    form = Everything({"choice": "a"})
    form.renderer = renderer
    str(form["choice"])
    assert renderer._stock == {
        "django/forms/widgets/select.html": True,
        "django/forms/widgets/select_option.html": True,
    }
