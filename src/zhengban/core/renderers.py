"""A form renderer that writes the common widgets in Python.

Django renders every widget through templates: an <input> is three templates, a <select>
one more per option. A list page's filter form (nine fields, a drop-down of units) cost
about a fifth of the page's CPU that way. Text-like inputs, <select> and their options are
written here exactly as Django's own templates would write them (tests compare the two);
anything else, or a template an app overrides, goes through the templates as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django.forms
from django.forms.renderers import DjangoTemplates
from django.template import Context
from django.template.base import render_value_in_context
from django.template.defaultfilters import stringformat
from django.utils.safestring import SafeData, mark_safe

WIDGETS = "django/forms/widgets/"
INPUTS = {
    f"{WIDGETS}{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "search",
        "tel",
        "date",
        "datetime",
        "time",
        "color",
    )
}
SELECT = f"{WIDGETS}select.html"
OPTION = f"{WIDGETS}select_option.html"
DJANGO_FORMS_TEMPLATES = str(Path(django.forms.__file__).resolve().parent / "templates")


def _text(value: Any, context: Context) -> str:
    # {{ value }}
    return render_value_in_context(value, context)


def _s(value: Any, context: Context) -> str:
    # {{ value|stringformat:'s' }}: an is_safe filter keeps safe input safe.
    out = stringformat(value, "s")
    if isinstance(value, SafeData):
        out = mark_safe(out)
    return render_value_in_context(out, context)


def _attrs(attrs: dict[str, Any], context: Context) -> str:
    # django/forms/widgets/attrs.html
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(f" {_text(name, context)}")
        if value is not True:
            out.append(f'="{_s(value, context)}"')
    return "".join(out)


def _input(widget: dict[str, Any], context: Context) -> str:
    value = widget["value"]
    shown = f' value="{_s(value, context)}"' if value is not None else ""
    return (
        f'<input type="{_text(widget["type"], context)}" name="{_text(widget["name"], context)}"'
        f"{shown}{_attrs(widget['attrs'], context)}>"
    )


def _option(option: dict[str, Any], context: Context) -> str:
    return (
        f'<option value="{_s(option["value"], context)}"{_attrs(option["attrs"], context)}>'
        f"{_text(option['label'], context)}</option>"
    )


def _select(widget: dict[str, Any], context: Context) -> str | None:
    out = [f'<select name="{_text(widget["name"], context)}"{_attrs(widget["attrs"], context)}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{_text(group_name, context)}">')
        for option in group_choices:
            if option.get("template_name") != OPTION:
                return None
            # The option template ends in a newline, kept by the include.
            out.append(f"\n  {_option(option, context)}\n")
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


class FastWidgetRenderer(DjangoTemplates):
    """DjangoTemplates, with inputs and drop-downs written in Python."""

    def __init__(self) -> None:
        super().__init__()
        self._stock: dict[str, bool] = {}

    def _is_stock(self, template_name: str) -> bool:
        # An app may override a widget template: then its template is used.
        if template_name not in self._stock:
            origin = self.get_template(template_name).origin.name
            self._stock[template_name] = str(origin).startswith(DJANGO_FORMS_TEMPLATES)
        return self._stock[template_name]

    def render(self, template_name: str, context: dict[str, Any], request=None) -> str:
        widget = context.get("widget") if request is None else None
        if widget is not None and (template_name in INPUTS or template_name == SELECT):
            if self._is_stock(template_name) and (
                template_name != SELECT or self._is_stock(OPTION)
            ):
                ctx = Context(autoescape=True)
                html = _select(widget, ctx) if template_name == SELECT else _input(widget, ctx)
                if html is not None:
                    return html.strip()
        return super().render(template_name, context, request=request)
