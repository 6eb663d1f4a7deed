"""Pages of the three platform operators (三员): the 系统管理员 manages accounts, the 安全管理员
manages roles. Each view is thin: it checks the role's permission (so the other two get 403),
then calls a service, which enforces the rules again."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from zhengban.core.scoping import get_visible_or_404
from zhengban.core.views import ObjectListView
from zhengban.orgs import services
from zhengban.orgs.choices import Role
from zhengban.orgs.filtersets import UserFilterSet
from zhengban.orgs.forms_accounts import (
    ACCOUNT_FIELDS,
    AccountCreateForm,
    AccountUpdateForm,
    PasswordResetForm,
    RoleGrantForm,
    apply_service_errors,
)
from zhengban.orgs.models import User

ACCOUNT_PERMISSION = "orgs.add_user"
ROLE_PERMISSION = "orgs.add_rolegrant"


def _roles_text(record: User) -> str:
    # In the order roles are declared (business roles first), not alphabetically by code.
    order = {role: i for i, role in enumerate(Role.values)}
    grants = sorted(record.role_grants.all(), key=lambda g: order.get(g.role, len(order)))
    return "、".join(g.get_role_display() for g in grants) or "—"


class AccountTable(tables.Table):
    username = tables.Column(linkify=("orgs:account_edit", [tables.A("pk")]))
    unit = tables.Column(verbose_name=gettext_lazy("单位"))
    roles = tables.Column(verbose_name=gettext_lazy("角色"), empty_values=(), orderable=False)
    locked = tables.Column(verbose_name=gettext_lazy("登录锁定"), empty_values=(), orderable=False)

    class Meta:
        model = User
        fields = ["username", "full_name", "unit", "roles", "is_active", "locked", "last_login"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One query for the whole page rather than one per row.
        self.locked_set = services.locked_usernames()

    def render_roles(self, record: User) -> str:
        return _roles_text(record)

    def render_locked(self, record: User) -> str:
        return _("已锁定") if record.username in self.locked_set else ""


class RoleAccountTable(tables.Table):
    username = tables.Column(linkify=("orgs:role_manage", [tables.A("pk")]))
    unit = tables.Column(verbose_name=gettext_lazy("单位"))
    roles = tables.Column(verbose_name=gettext_lazy("角色"), empty_values=(), orderable=False)

    class Meta:
        model = User
        fields = ["username", "full_name", "unit", "roles", "is_active"]

    def render_roles(self, record: User) -> str:
        return _roles_text(record)


class AccountListView(PermissionRequiredMixin, ObjectListView):
    permission_required = ACCOUNT_PERMISSION
    model = User
    queryset = User.objects.select_related("unit").prefetch_related("role_grants")
    table_class = AccountTable
    filterset_class = UserFilterSet
    title = gettext_lazy("账号管理")
    export_name = "accounts"

    def get_actions(self) -> list[tuple[str, str]]:
        return [(_("新建账号"), reverse("orgs:account_create"))]


class RoleAccountListView(PermissionRequiredMixin, ObjectListView):
    permission_required = ROLE_PERMISSION
    model = User
    queryset = User.objects.select_related("unit").prefetch_related("role_grants")
    table_class = RoleAccountTable
    filterset_class = UserFilterSet
    title = gettext_lazy("角色管理")
    export_name = "roles"


class _OperatorView(PermissionRequiredMixin, View):
    """Looks the account up through the scoping mechanism, like every other view."""

    model = User
    queryset = User.objects.select_related("unit", "department")

    def get_account(self) -> User:
        return get_visible_or_404(self.queryset, self.request.user, pk=self.kwargs["pk"])


class AccountCreateView(PermissionRequiredMixin, View):
    permission_required = ACCOUNT_PERMISSION
    template_name = "orgs/accounts/account_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(AccountCreateForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AccountCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = services.create_account(
                    actor=request.user,
                    username=data["username"],
                    password=data["password1"],
                    **{name: data[name] for name in ACCOUNT_FIELDS},
                )
            except ValidationError as exc:
                apply_service_errors(form, exc, "password1")
            else:
                messages.success(request, _("已新建账号 %(u)s。") % {"u": account.username})
                return HttpResponseRedirect(reverse("orgs:account_edit", args=[account.pk]))
        return self.page(form)

    def page(self, form) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form, "title": _("新建账号")})


class AccountEditView(_OperatorView):
    """Edit an account; the same page offers password reset, (de)activation and unlock."""

    permission_required = ACCOUNT_PERMISSION
    template_name = "orgs/accounts/account_form.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account()
        initial = {name: getattr(account, name) for name in ACCOUNT_FIELDS}
        return self.page(account, AccountUpdateForm(initial=initial), PasswordResetForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account()
        form = AccountUpdateForm(request.POST)
        if form.is_valid():
            try:
                services.update_account(actor=request.user, user=account, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("已保存。"))
                return HttpResponseRedirect(request.path)
        return self.page(account, form, PasswordResetForm())

    def page(self, account: User, form, password_form) -> HttpResponse:
        context = {
            "account": account,
            "form": form,
            "password_form": password_form,
            "locked": account.username in services.locked_usernames([account.username]),
            "title": _("账号：%(u)s") % {"u": account.username},
        }
        return render(self.request, self.template_name, context)


class AccountPasswordView(AccountEditView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponseRedirect(reverse("orgs:account_edit", args=[pk]))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account()
        password_form = PasswordResetForm(request.POST)
        if password_form.is_valid():
            try:
                services.set_password(
                    actor=request.user,
                    user=account,
                    password=password_form.cleaned_data["password1"],
                )
            except ValidationError as exc:
                apply_service_errors(password_form, exc, "password1")
            else:
                messages.success(request, _("密码已重置。"))
                return HttpResponseRedirect(reverse("orgs:account_edit", args=[pk]))
        initial = {name: getattr(account, name) for name in ACCOUNT_FIELDS}
        return self.page(account, AccountUpdateForm(initial=initial), password_form)


class _AccountActionView(_OperatorView):
    """A POST-only button on the account page."""

    permission_required = ACCOUNT_PERMISSION
    done_message = ""

    def act(self, account: User) -> None:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account()
        try:
            self.act(account)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, self.done_message)
        return HttpResponseRedirect(reverse("orgs:account_edit", args=[pk]))


class AccountDeactivateView(_AccountActionView):
    done_message = gettext_lazy("账号已停用。")

    def act(self, account: User) -> None:
        services.deactivate_account(actor=self.request.user, user=account)


class AccountActivateView(_AccountActionView):
    done_message = gettext_lazy("账号已启用。")

    def act(self, account: User) -> None:
        services.activate_account(actor=self.request.user, user=account)


class AccountUnlockView(_AccountActionView):
    done_message = gettext_lazy("已解除登录锁定。")

    def act(self, account: User) -> None:
        services.unlock_account(actor=self.request.user, user=account)


class RoleManageView(_OperatorView):
    """One account's roles: revoke buttons and a grant form (安全管理员)."""

    permission_required = ROLE_PERMISSION
    template_name = "orgs/accounts/role_manage.html"
    queryset = User.objects.select_related("unit").prefetch_related("role_grants")

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page(self.get_account(), RoleGrantForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account()
        form = RoleGrantForm(request.POST)
        if form.is_valid():
            try:
                services.grant_role(
                    actor=request.user, user=account, role=form.cleaned_data["role"]
                )
            except ValidationError as exc:
                apply_service_errors(form, exc, "role")
            else:
                messages.success(request, _("已授予角色。"))
                return HttpResponseRedirect(request.path)
        return self.page(account, form)

    def page(self, account: User, form) -> HttpResponse:
        context = {
            "account": account,
            "grants": list(account.role_grants.all()),
            "form": form,
            "title": _("角色：%(u)s") % {"u": account.username},
        }
        return render(self.request, self.template_name, context)


class RoleRevokeView(_OperatorView):
    permission_required = ROLE_PERMISSION

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account()
        try:
            services.revoke_role(
                actor=request.user, user=account, role=request.POST.get("role", "")
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("已撤销角色。"))
        return HttpResponseRedirect(reverse("orgs:role_manage", args=[pk]))


class OwnPasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, with the change written to the audit log."""

    def form_valid(self, form):
        response = super().form_valid(form)
        services.record_own_password_change(user=self.request.user)
        return response
