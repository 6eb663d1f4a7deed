from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, TemplateView

from zhengban.catalog import services
from zhengban.catalog.filtersets import ProductFilterSet, PublisherFilterSet, RuleFilterSet
from zhengban.catalog.forms import ProductForm, PublisherForm, RuleFromUnrecognisedForm
from zhengban.catalog.models import (
    Product,
    ProductFamily,
    Publisher,
    ReapplyJob,
    RecognitionRule,
)
from zhengban.catalog.tables import ProductTable, PublisherTable, RuleTable
from zhengban.core.views import ObjectListView


class CatalogVisibilityMixin:
    """Catalog rows are shared reference data: `visible_to` adds a unit's in-house rows."""

    def get_queryset(self):
        return self.base_queryset().visible_to(self.request.user)


class PublisherListView(CatalogVisibilityMixin, ObjectListView):
    model = Publisher
    queryset = Publisher.objects.annotate(product_count=Count("products")).order_by("name")
    table_class = PublisherTable
    filterset_class = PublisherFilterSet
    title = gettext_lazy("发行商")
    export_name = "publishers"

    def get_actions(self) -> list[tuple[str, str]]:
        if services.can_edit_catalog(self.request.user):
            return [(_("新建发行商"), reverse("catalog:publisher_create"))]
        return []


class ProductListView(CatalogVisibilityMixin, ObjectListView):
    model = Product
    queryset = Product.objects.select_related("family", "publisher")
    table_class = ProductTable
    filterset_class = ProductFilterSet
    title = gettext_lazy("软件产品")
    export_name = "products"

    def get_actions(self) -> list[tuple[str, str]]:
        user = self.request.user
        if services.can_edit_catalog(user) or services.can_add_inhouse(user, user.unit):
            return [(_("新建产品"), reverse("catalog:product_create"))]
        return []


class RuleListView(CatalogVisibilityMixin, ObjectListView):
    model = RecognitionRule
    queryset = RecognitionRule.objects.select_related("product")
    table_class = RuleTable
    filterset_class = RuleFilterSet
    title = gettext_lazy("识别规则")
    export_name = "recognition-rules"


class ProductDetailView(LoginRequiredMixin, DetailView):
    model = Product
    template_name = "catalog/product_detail.html"

    def get_queryset(self):
        return (
            Product.objects.select_related("family", "publisher", "owner_unit")
            .prefetch_related("versions", "swid_tags", "components", "suites")
            .visible_to(self.request.user)
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["rules"] = self.object.rules.order_by("position", "id")
        ctx["family_products"] = (
            Product.objects.filter(family=self.object.family)
            .exclude(pk=self.object.pk)
            .visible_to(self.request.user)
        )
        ctx["devices"] = services.product_devices(user=self.request.user, product=self.object)
        ctx["job"] = self.object.reapply_jobs.order_by("-created", "-id").first()
        ctx["can_edit"] = services.can_edit_product(self.request.user, self.object)
        ctx["can_edit_catalog"] = services.can_edit_catalog(self.request.user)
        return ctx


class ReapplyProgressView(LoginRequiredMixin, DetailView):
    """The progress of a re-apply job, as an htmx fragment that polls itself while active."""

    model = ReapplyJob
    template_name = "catalog/_reapply_progress.html"
    context_object_name = "job"

    def get_queryset(self):
        # A job is as visible as its product; jobs without one only to catalog editors.
        products = Product.objects.visible_to(self.request.user)
        jobs = ReapplyJob.objects.filter(product__in=products)
        if services.can_edit_catalog(self.request.user):
            jobs = jobs | ReapplyJob.objects.filter(product__isnull=True)
        return jobs


class ProductEditView(LoginRequiredMixin, TemplateView):
    """Create (no pk) or edit a product: copyright bureau for the shared catalog, a unit's
    SAM officer for the unit's own in-house software."""

    template_name = "core/form.html"

    def _product(self) -> Product | None:
        pk = self.kwargs.get("pk")
        if pk is None:
            return None
        return get_object_or_404(Product.objects.visible_to(self.request.user), pk=pk)

    def _form(self, product, data=None) -> ProductForm:
        # Families of other units' in-house software are theirs alone: offer only families
        # with a product this person may see, or with none yet.
        visible = Product.objects.visible_to(self.request.user)
        families = (
            ProductFamily.objects.filter(Q(products__in=visible) | Q(products__isnull=True))
            .distinct()
            .order_by("name")
        )
        return ProductForm(data, instance=product, creating=product is None, families=families)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        product = self._product()
        user = self.request.user
        if product is not None and not services.can_edit_product(user, product):
            raise PermissionDenied
        if product is None and not (
            services.can_edit_catalog(user) or services.can_add_inhouse(user, user.unit)
        ):
            raise PermissionDenied
        ctx.setdefault("form", self._form(product))
        ctx["title"] = _("编辑产品 %(name)s") % {"name": product.name} if product else _("新建产品")
        ctx["back"] = (
            reverse("catalog:product_detail", args=[product.pk])
            if product
            else reverse("catalog:product_list")
        )
        ctx["submit_label"] = _("保存")
        return ctx

    def post(self, request, *args, **kwargs):
        product = self._product()
        form = self._form(product, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            owner_unit = None
            if product is None and (
                data.get("inhouse") or not services.can_edit_catalog(request.user)
            ):
                owner_unit = request.user.unit
            try:
                saved = services.save_product(
                    actor=request.user,
                    values=form.values(),
                    product=product,
                    key=data.get("key") or "",
                    family=data.get("family"),
                    owner_unit=owner_unit,
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("已保存产品 %(name)s。") % {"name": saved.name})
                return HttpResponseRedirect(reverse("catalog:product_detail", args=[saved.pk]))
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PublisherEditView(LoginRequiredMixin, TemplateView):
    """Create (no pk) or edit a publisher of the shared catalog (copyright bureau)."""

    template_name = "core/form.html"

    def _publisher(self) -> Publisher | None:
        pk = self.kwargs.get("pk")
        if pk is None:
            return None
        return get_object_or_404(Publisher.objects.visible_to(self.request.user), pk=pk)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        if not services.can_edit_catalog(self.request.user):
            raise PermissionDenied
        ctx = super().get_context_data(**kwargs)
        publisher = self._publisher()
        ctx.setdefault("form", PublisherForm(instance=publisher, creating=publisher is None))
        ctx["title"] = (
            _("编辑发行商 %(name)s") % {"name": publisher} if publisher else _("新建发行商")
        )
        ctx["back"] = reverse("catalog:publisher_list")
        ctx["submit_label"] = _("保存")
        return ctx

    def post(self, request, *args, **kwargs):
        if not services.can_edit_catalog(request.user):
            raise PermissionDenied
        publisher = self._publisher()
        form = PublisherForm(request.POST, instance=publisher, creating=publisher is None)
        if form.is_valid():
            try:
                saved = services.save_publisher(
                    actor=request.user,
                    values=form.values(),
                    publisher=publisher,
                    key=form.cleaned_data.get("key") or "",
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("已保存发行商 %(name)s。") % {"name": saved})
                return HttpResponseRedirect(reverse("catalog:publisher_list"))
        return self.render_to_response(self.get_context_data(form=form), status=400)


class UnrecognisedQueueView(LoginRequiredMixin, TemplateView):
    """Unrecognised records ranked by device count; an officer turns one into a rule."""

    template_name = "catalog/unrecognised.html"

    def _allowed(self) -> bool:
        user = self.request.user
        return services.can_edit_catalog(user) or services.can_add_inhouse(user, user.unit)

    def _form(self, data=None, initial=None) -> RuleFromUnrecognisedForm:
        return RuleFromUnrecognisedForm(
            data,
            initial=initial,
            products=Product.objects.visible_to(self.request.user).order_by("name"),
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        records = services.pending_unrecognised_records(user)
        ctx["queue"] = services.unrecognised_queue(records, unit_id=getattr(user, "unit_id", None))
        ctx["can_edit"] = self._allowed()
        ctx.setdefault(
            "form",
            self._form(
                initial={
                    "name": self.request.GET.get("name", ""),
                    "publisher": self.request.GET.get("publisher", ""),
                    "platform": self.request.GET.get("platform", ""),
                }
            ),
        )
        ctx["title"] = _("未识别软件")
        return ctx

    def post(self, request, *args, **kwargs):
        if not self._allowed():
            raise PermissionDenied
        form = self._form(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                rule = services.create_rule_from_unrecognised(
                    actor=request.user,
                    name=data["name"],
                    publisher=data.get("publisher") or "",
                    platform=data.get("platform") or "",
                    rule_type=data["rule_type"],
                    pattern=data.get("pattern") or None,
                    match_publisher=data.get("match_publisher", False),
                    product=data.get("product"),
                    new_product=form.new_product_spec() if not data.get("product") else None,
                    owner_unit=request.user.unit if data.get("inhouse") else None,
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            except PermissionDenied as exc:
                form.add_error(None, str(exc) or _("没有权限。"))
            else:
                messages.success(
                    request,
                    _("已创建识别规则,产品:%(product)s。") % {"product": rule.product.name},
                )
                return HttpResponseRedirect(
                    reverse("catalog:product_detail", args=[rule.product_id])
                )
        return self.render_to_response(self.get_context_data(form=form), status=400)
