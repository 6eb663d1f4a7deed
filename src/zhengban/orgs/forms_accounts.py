"""Forms for the three operators' pages. They only collect input: the rules (password
policy, separation of duties, who may do what) live in orgs/services.py."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from zhengban.orgs.choices import Role
from zhengban.orgs.models import Department, Unit

ACCOUNT_FIELDS = ["full_name", "unit", "department", "post", "phone", "email"]


def apply_service_errors(form: forms.Form, exc: ValidationError, field: str | None = None) -> None:
    """Shows a service's ValidationError on the form: per field where the form has that
    field, otherwise above the form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(field, exc.messages)


class AccountForm(forms.Form):
    full_name = forms.CharField(label=_("姓名"), max_length=50)
    unit = forms.ModelChoiceField(
        queryset=Unit.objects.select_related("region"), required=False, label=_("单位")
    )
    department = forms.ModelChoiceField(
        queryset=Department.objects.select_related("unit"), required=False, label=_("部门")
    )
    post = forms.CharField(label=_("职务"), max_length=100, required=False)
    phone = forms.CharField(label=_("电话"), max_length=30, required=False)
    email = forms.EmailField(label=_("电子邮箱"), required=False)


class PasswordPairMixin(forms.Form):
    password1 = forms.CharField(
        label=_("密码"), strip=False, widget=forms.PasswordInput(render_value=False)
    )
    password2 = forms.CharField(
        label=_("确认密码"), strip=False, widget=forms.PasswordInput(render_value=False)
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("两次输入的密码不一致。"))
        return data


class AccountCreateForm(PasswordPairMixin, AccountForm):
    username = forms.CharField(label=_("用户名"), max_length=150)
    field_order = ["username", *ACCOUNT_FIELDS, "password1", "password2"]


class AccountUpdateForm(AccountForm):
    pass


class PasswordResetForm(PasswordPairMixin):
    pass


class RoleGrantForm(forms.Form):
    role = forms.ChoiceField(label=_("角色"), choices=Role.choices)
