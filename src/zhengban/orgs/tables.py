import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from zhengban.core.tables import FastRowsMixin
from zhengban.orgs.models import Region, Unit, User


class RegionTable(tables.Table):
    code = tables.Column(verbose_name=_("代码"))
    name = tables.Column(linkify=("orgs:region_detail", [tables.A("pk")]))
    unit_count = tables.Column(verbose_name=_("单位数"), orderable=True)

    class Meta:
        model = Region
        fields = ["code", "name", "level", "parent", "unit_count"]


# A province lists thousands of units: plain cells rendered in Python (see FastRowsMixin).
class UnitTable(FastRowsMixin, tables.Table):
    name = tables.Column(linkify=("orgs:unit_detail", [tables.A("pk")]))

    class Meta:
        model = Unit
        fields = [
            "name",
            "credit_code",
            "unit_type",
            "region",
            "headcount",
            "head_name",
            "officer_name",
            "officer_phone",
        ]


class UserTable(tables.Table):
    username = tables.Column(linkify=("orgs:person_detail", [tables.A("pk")]))
    roles = tables.Column(verbose_name=_("角色"), empty_values=(), orderable=False)

    class Meta:
        model = User
        fields = ["username", "full_name", "unit", "department", "post", "phone", "is_active"]

    def render_roles(self, record: User) -> str:
        return "、".join(str(g.get_role_display()) for g in record.role_grants.all())

    def value_roles(self, record: User) -> str:
        return self.render_roles(record)
