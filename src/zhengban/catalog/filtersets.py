import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.choices import Category, LicenseModel, Platform, RuleType
from zhengban.catalog.models import Product, Publisher, RecognitionRule
from zhengban.core.filtersets import BooleanFilter, FilterSet


class PublisherFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    domestic = BooleanFilter(label=_("国产"))

    class Meta:
        model = Publisher
        fields = ["q", "domestic"]

    def search(self, queryset, name, value):
        # Aliases live in a JSON list; a text search over its serialised form is enough here.
        return queryset.filter(
            Q(name__icontains=value)
            | Q(name_zh__icontains=value)
            | Q(key__icontains=value)
            | Q(aliases__icontains=value)
        )


class ProductFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    category = django_filters.ChoiceFilter(choices=Category.choices, label=_("类别"))
    license_model = django_filters.ChoiceFilter(choices=LicenseModel.choices, label=_("许可模式"))
    domestic = BooleanFilter(label=_("国产"))
    home_edition = BooleanFilter(label=_("家庭/个人版"))
    family = django_filters.CharFilter(field_name="family__key", label=_("系列标识"))
    publisher = django_filters.CharFilter(field_name="publisher__key", label=_("发行商标识"))
    local = BooleanFilter(label=_("本地添加"))

    class Meta:
        model = Product
        fields = ["q", "category", "license_model", "domestic", "home_edition", "family"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value)
            | Q(key__icontains=value)
            | Q(family__name__icontains=value)
            | Q(edition__icontains=value)
            | Q(publisher__name__icontains=value)
            | Q(publisher__name_zh__icontains=value)
        )


class RuleFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    rule_type = django_filters.ChoiceFilter(choices=RuleType.choices, label=_("规则类型"))
    platform = django_filters.ChoiceFilter(choices=Platform.choices, label=_("平台"))
    local = BooleanFilter(label=_("本地添加"))
    product = django_filters.CharFilter(field_name="product__key", label=_("产品标识"))

    class Meta:
        model = RecognitionRule
        fields = ["q", "rule_type", "platform", "local", "product"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(pattern__icontains=value)
            | Q(product__name__icontains=value)
            | Q(key__icontains=value)
        )
