from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, TemplateView

from zhengban.catalog import services
from zhengban.catalog.filtersets import ProductFilterSet, PublisherFilterSet, RuleFilterSet
from zhengban.catalog.forms import RuleFromUnrecognisedForm
from zhengban.catalog.models import Product, Publisher, RecognitionRule
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


class ProductListView(CatalogVisibilityMixin, ObjectListView):
    model = Product
    queryset = Product.objects.select_related("family", "publisher")
    table_class = ProductTable
    filterset_class = ProductFilterSet
    title = gettext_lazy("软件产品")
    export_name = "products"


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
        # TODO(inventory): "devices that have this product" — a scoped, paginated list of
        # devices with a recognised install of this product, once the inventory app exists.
        ctx["devices"] = None
        return ctx


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
