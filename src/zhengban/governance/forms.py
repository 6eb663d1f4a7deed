from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.choices import Category
from zhengban.catalog.models import Product, ProductFamily
from zhengban.governance.choices import RequestAction, Resolution, RuleKind, StepKind
from zhengban.governance.models import ConfigurationSpec
from zhengban.inventory.models import Device
from zhengban.orgs.models import Department, User


class RequestForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none(), label=_("终端"))
    action = forms.ChoiceField(choices=RequestAction.choices, label=_("申请事项"))
    product = forms.ModelChoiceField(queryset=Product.objects.none(), label=_("软件"))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label=_("申请理由"))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = Device.objects.in_service().filter(assigned_user=user)
        self.fields["product"].queryset = Product.objects.visible_to(user).select_related("family")


class DecisionForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label=_("审批意见"), required=False
    )


class SpecForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("名称"))
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), required=False, label=_("适用部门")
    )
    post = forms.CharField(max_length=100, required=False, label=_("适用职务"))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("说明")
    )

    def __init__(self, *args: Any, unit: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if unit is None:
            del self.fields["department"], self.fields["post"]
        else:
            self.fields["department"].queryset = Department.objects.filter(unit=unit)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("department") and data.get("post"):
            raise forms.ValidationError(_("部门和职务只能选择其一。"))
        return data


class RuleForm(forms.Form):
    kind = forms.ChoiceField(choices=RuleKind.choices, label=_("类型"))
    product = forms.ModelChoiceField(
        queryset=Product.objects.none(), required=False, label=_("产品")
    )
    family = forms.ModelChoiceField(
        queryset=ProductFamily.objects.all(), required=False, label=_("产品系列")
    )
    category = forms.ChoiceField(
        choices=[("", "---------"), *Category.choices], required=False, label=_("类别")
    )
    note = forms.CharField(max_length=200, required=False, label=_("备注"))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.visible_to(user)


class AdoptForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label=_("名称（留空沿用模板名称）"))


class WorkflowForm(forms.Form):
    step1 = forms.ChoiceField(choices=StepKind.choices, label=_("第一步"))
    step2 = forms.ChoiceField(
        choices=[("", _("（无）")), *StepKind.choices], required=False, label=_("第二步")
    )
    step3 = forms.ChoiceField(
        choices=[("", _("（无）")), *StepKind.choices], required=False, label=_("第三步")
    )
    step_days = forms.IntegerField(min_value=1, max_value=60, label=_("每步审批时限(天)"))
    window_days = forms.IntegerField(min_value=1, max_value=180, label=_("批准后执行期限(天)"))

    def steps(self) -> list[str]:
        return [s for s in (self.cleaned_data[f"step{i}"] for i in (1, 2, 3)) if s]


class ExplainForm(forms.Form):
    explanation = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label=_("情况说明"))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), label=_("处理人"))

    def __init__(self, *args: Any, unit: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = User.objects.filter(unit=unit, is_active=True)


class ResolveForm(forms.Form):
    # "终端已退役" is the system's, when a device is retired.
    resolution = forms.ChoiceField(
        choices=[c for c in Resolution.choices if c[0] != Resolution.RETIRED],
        label=_("处理结果"),
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label=_("处理说明")
    )


class CampaignForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("名称"))
    opens = forms.DateField(label=_("开始日期"), widget=forms.DateInput(attrs={"type": "date"}))
    due = forms.DateField(label=_("截止日期"), widget=forms.DateInput(attrs={"type": "date"}))


class TemplateChoiceForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=ConfigurationSpec.objects.none(), label=_("区划模板")
    )
