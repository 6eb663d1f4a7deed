from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.models import Product, ProductFamily
from zhengban.inventory.models import Device
from zhengban.licensing.choices import Disposal
from zhengban.licensing.models import Contract, Entitlement, LicensingPolicy
from zhengban.orgs.models import Region, Unit, User

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _versions(value: str) -> list[str]:
    return [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]


class UnitChoiceMixin:
    """A unit field only for people who manage more than one unit."""

    def _setup_unit(self, user: User, unit: Unit | None) -> None:
        field = self.fields["unit"]
        if unit is not None:
            del self.fields["unit"]
            return
        field.queryset = Unit.objects.visible_to(user).order_by("path")


class ContractForm(UnitChoiceMixin, forms.ModelForm):
    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("采购单位"))

    class Meta:
        model = Contract
        fields = [
            "unit",
            "number",
            "title",
            "supplier",
            "signed_on",
            "amount",
            "funding_source",
            "procurement_method",
            "term_version",
            "term_compatibility",
            "term_security",
            "term_authorisation",
            "term_support",
            "note",
        ]
        widgets = {
            "signed_on": DATE,
            **{
                name: forms.Textarea(attrs={"rows": 2})
                for name in (
                    "term_version",
                    "term_compatibility",
                    "term_security",
                    "term_authorisation",
                    "term_support",
                    "note",
                )
            },
        }

    def __init__(self, *args: Any, user: User, unit: Unit | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_unit(user, unit)

    def _post_clean(self) -> None:
        # The service validates the model (with the unit it is given).
        pass


class DocumentForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, label=_("名称"))
    file = forms.FileField(label=_("扫描件"))


class EntitlementForm(UnitChoiceMixin, forms.ModelForm):
    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("所属单位"))
    versions_text = forms.CharField(
        required=False, label=_("授权版本"), help_text=_("多个版本用逗号分隔,空为任意版本")
    )
    downgrade_to_text = forms.CharField(
        required=False, label=_("可降级至"), help_text=_("多个版本用逗号分隔,空为所有更低版本")
    )
    serial = forms.CharField(
        required=False,
        label=_("许可证号/序列号"),
        help_text=_("加密保存,页面只显示末四位;修改时留空表示不变"),
        widget=forms.PasswordInput(render_value=False),
    )

    class Meta:
        model = Entitlement
        fields = [
            "unit",
            "contract",
            "product",
            "family",
            "edition",
            "versions_text",
            "metric",
            "term",
            "start",
            "end",
            "quantity",
            "downgrade",
            "downgrade_to_text",
            "upgrade_until",
            "oem_device",
            "site_region",
            "framework",
            "source_type",
            "purchased_on",
            "unit_price",
            "serial",
            "note",
        ]
        widgets = {
            "start": DATE,
            "end": DATE,
            "upgrade_until": DATE,
            "purchased_on": DATE,
            "note": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, user: User, unit: Unit | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_unit(user, unit)
        contracts = Contract.objects.visible_to(user)
        devices = Device.objects.visible_to(user)
        if unit is not None:
            contracts = contracts.filter(unit=unit)
            devices = devices.filter(unit=unit)
        self.fields["contract"].queryset = contracts
        self.fields["oem_device"].queryset = devices.order_by("hostname")
        products = Product.objects.visible_to(user)
        self.fields["product"].queryset = products.select_related("family")
        self.fields["family"].queryset = ProductFamily.objects.filter(
            pk__in=products.values("family_id")
        )
        # A site licence may cover the person's own region subtree only.
        self.fields["site_region"].queryset = Region.objects.visible_to(user).order_by("path")
        if self.instance.pk:
            self.fields["versions_text"].initial = ", ".join(self.instance.versions or [])
            self.fields["downgrade_to_text"].initial = ", ".join(self.instance.downgrade_to or [])

    def _post_clean(self) -> None:
        pass

    def service_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("unit", None)
        data.pop("serial", None)
        data["versions"] = _versions(data.pop("versions_text", ""))
        data["downgrade_to"] = _versions(data.pop("downgrade_to_text", ""))
        if not data.get("proof"):
            data.pop("proof", None)
        return data


class AllocationForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none(), required=False, label=_("终端"))
    person = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=_("人员"))

    def __init__(self, *args: Any, user: User, unit: Unit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Seats go to machines in service only.
        self.fields["device"].queryset = (
            Device.objects.in_service().visible_to(user).filter(unit=unit)
        )
        self.fields["person"].queryset = User.objects.visible_to(user).filter(unit=unit)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("device")) == bool(data.get("person")):
            raise forms.ValidationError(_("请指定一台终端或一名人员。"))
        return data


class ShareForm(forms.Form):
    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("单位"))
    quantity = forms.IntegerField(min_value=0, label=_("分配数量"), help_text=_("0 表示取消分配"))

    def __init__(self, *args: Any, region: Region, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = Unit.objects.filter(
            region__path__startswith=region.path
        ).order_by("path")


class PolicyForm(forms.ModelForm):
    """A region's caps and asset rules; the service stores them and records the change."""

    class Meta:
        model = LicensingPolicy
        fields = [
            "office_cap",
            "office_special_cap",
            "antivirus_client_cap",
            "antivirus_server_cap",
            "os_cap",
            "asset_threshold",
            "service_life_years",
        ]
        help_texts = {
            "office_cap": _("财行〔2013〕98号:不超过 600 元/套(含一年服务)"),
            "office_special_cap": _("财行〔2013〕98号:特殊需要不超过 1400 元/套"),
            "antivirus_client_cap": _("财行〔2013〕98号:客户端不超过 100 元/套"),
            "antivirus_server_cap": _("财行〔2013〕98号:服务器端不超过 1400 元/套"),
            "os_cap": _("操作系统随计算机购置;填写后用于缺口费用估算,空为不估算"),
            "asset_threshold": _("单价或批量金额达到此标准的软件登记资产账卡(默认 500 元)"),
            "service_life_years": _("最低使用年限(默认 5 年,中央单位 6 年)"),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, value in list(data.items()):
            if name != "service_life_years" and value is not None and value < 0:
                self.add_error(name, _("不能为负数。"))
        return data

    def _post_clean(self) -> None:
        # The service validates the model (with its region).
        pass


class DisposalForm(forms.Form):
    """国管资〔2011〕280号: a software asset leaves the books by 转让, 捐赠, 调剂 or 报废."""

    method = forms.ChoiceField(choices=Disposal.choices, label=_("处置方式"))
    date = forms.DateField(label=_("处置日期"), widget=DATE)
    quantity = forms.IntegerField(
        min_value=1,
        required=False,
        label=_("处置数量"),
        help_text=_("空表示处置全部剩余许可"),
    )
    recipient = forms.CharField(
        max_length=200,
        required=False,
        label=_("接收单位"),
        help_text=_("转让、捐赠、调剂时必填"),
    )
    approval = forms.CharField(max_length=100, required=False, label=_("批准文号"))
    reason = forms.CharField(
        label=_("处置原因"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("报废须说明无法使用、技术落后或随硬件报废等情形"),
    )

    def __init__(self, *args: Any, remaining: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remaining = remaining
        if remaining is not None:
            self.fields["quantity"].widget.attrs["max"] = remaining

    def clean_quantity(self) -> int | None:
        value = self.cleaned_data.get("quantity")
        if value is not None and self.remaining is not None and value > self.remaining:
            raise forms.ValidationError(
                _("处置数量不能超过剩余许可数 %(n)d。") % {"n": self.remaining}
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        method = data.get("method")
        if method and method != Disposal.SCRAP and not (data.get("recipient") or "").strip():
            self.add_error("recipient", _("转让、捐赠和调剂须填写接收单位。"))
        return data
