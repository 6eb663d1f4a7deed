"""Read-only catalog API: publishers and products (shared catalog plus the caller's units'
in-house products)."""

from rest_framework import serializers, viewsets
from rest_framework.routers import BaseRouter

from zhengban.catalog.filtersets import ProductFilterSet, PublisherFilterSet
from zhengban.catalog.models import Product, Publisher


class PublisherSerializer(serializers.ModelSerializer):
    class Meta:
        model = Publisher
        fields = ["id", "key", "name", "name_zh", "aliases", "domestic", "local"]


class ProductSerializer(serializers.ModelSerializer):
    family = serializers.CharField(source="family.key", read_only=True)
    family_name = serializers.CharField(source="family.name", read_only=True)
    publisher = serializers.CharField(source="publisher.key", read_only=True, default=None)
    versions = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id",
            "key",
            "name",
            "family",
            "family_name",
            "publisher",
            "edition",
            "category",
            "license_model",
            "domestic",
            "home_edition",
            "local",
            "owner_unit",
            "versions",
        ]

    def get_versions(self, obj: Product) -> list[str]:
        return [v.version for v in obj.versions.all()]


class CatalogReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)


class PublisherViewSet(CatalogReadOnlyViewSet):
    queryset = Publisher.objects.order_by("key")
    serializer_class = PublisherSerializer
    filterset_class = PublisherFilterSet
    ordering_fields = ["key", "name"]


class ProductViewSet(CatalogReadOnlyViewSet):
    queryset = (
        Product.objects.select_related("family", "publisher")
        .prefetch_related("versions")
        .order_by("key")
    )
    serializer_class = ProductSerializer
    filterset_class = ProductFilterSet
    ordering_fields = ["key", "name", "category"]


def register(router: BaseRouter) -> None:
    router.register("catalog/publishers", PublisherViewSet, basename="catalog-publisher")
    router.register("catalog/products", ProductViewSet, basename="catalog-product")
