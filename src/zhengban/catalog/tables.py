import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.models import Product, Publisher, RecognitionRule


class PublisherTable(tables.Table):
    name = tables.Column(verbose_name=_("名称"))
    name_zh = tables.Column(verbose_name=_("中文名称"))
    domestic = tables.BooleanColumn(verbose_name=_("国产"))
    product_count = tables.Column(verbose_name=_("产品数"), orderable=True)

    class Meta:
        model = Publisher
        fields = ["key", "name", "name_zh", "domestic", "product_count", "local"]


class ProductTable(tables.Table):
    name = tables.LinkColumn("catalog:product_detail", args=[tables.A("pk")])
    family = tables.Column(accessor="family__name", verbose_name=_("系列"))
    publisher = tables.Column(accessor="publisher__name", verbose_name=_("发行商"))
    domestic = tables.BooleanColumn(verbose_name=_("国产"))
    home_edition = tables.BooleanColumn(verbose_name=_("家庭/个人版"))

    class Meta:
        model = Product
        fields = [
            "name",
            "key",
            "family",
            "edition",
            "publisher",
            "category",
            "license_model",
            "domestic",
            "home_edition",
            "local",
        ]


class RuleTable(tables.Table):
    product = tables.LinkColumn(
        "catalog:product_detail", args=[tables.A("product_id")], accessor="product__name"
    )

    class Meta:
        model = RecognitionRule
        fields = [
            "key",
            "product",
            "rule_type",
            "pattern",
            "platform",
            "publisher_pattern",
            "priority",
            "min_version",
            "max_version",
            "family_from",
            "local",
        ]
