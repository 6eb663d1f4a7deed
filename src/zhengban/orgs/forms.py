"""Forms check the shape of input; the services in `services.py`, `responsibility.py` and
`submissions.py` decide whether the change is allowed and make it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengban.orgs.choices import MechanismRole
from zhengban.orgs.models import Department, DeploymentMeeting, MechanismMember, Region, Unit
from zhengban.orgs.responsibility import MINUTES_SIGNATURES
from zhengban.orgs.validators import normalise_credit_code, validate_credit_code


class UnitCreateForm(forms.ModelForm):
    class Meta:
        model = Unit
        fields = [
            "name",
            "credit_code",
            "unit_type",
            "region",
            "parent",
            "headcount",
            "address",
            "is_copyright_bureau",
        ]

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = Region.objects.visible_to(user)
        self.fields["parent"].queryset = Unit.objects.visible_to(user)
        self.fields["credit_code"].help_text = _("18位，含校验位；字母不使用I、O、Z、S、V。")

    def clean_credit_code(self) -> str:
        code = normalise_credit_code(self.cleaned_data.get("credit_code", ""))
        validate_credit_code(code)
        if Unit.objects.filter(credit_code=code).exists():
            raise ValidationError(_("该统一社会信用代码已被其他单位使用。"))
        return code

    def _post_clean(self) -> None:
        # The service runs the model's full validation (the path is set there).
        pass


class UnitEditForm(forms.ModelForm):
    class Meta:
        model = Unit
        fields = [
            "name",
            "unit_type",
            "headcount",
            "address",
            "head_name",
            "head_post",
            "lead_department",
            "officer_name",
            "officer_post",
            "officer_phone",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead_department"].queryset = Department.objects.filter(unit=self.instance)
        self.fields["lead_department"].help_text = _("从本单位的部门中选择。")

    def _post_clean(self) -> None:
        pass


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("部门名称"), max_length=100)


class MeetingForm(forms.ModelForm):
    class Meta:
        model = DeploymentMeeting
        fields = ["date", "title", "attendees", "minutes"]
        widgets = {
            "date": forms.DateInput(attrs={"type": "date"}),
            "attendees": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        types = ",".join(f".{ext}" for ext in MINUTES_SIGNATURES)
        self.fields["minutes"].widget.attrs["accept"] = types
        self.fields["minutes"].help_text = _("PDF、OFD、Word、WPS或图片，不超过10MB。")
        self.fields["date"].initial = timezone.localdate()

    def _post_clean(self) -> None:
        pass


class MechanismMemberForm(forms.ModelForm):
    class Meta:
        model = MechanismMember
        fields = ["role", "person_name", "post", "unit", "duties"]
        widgets = {"duties": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, region: Region, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = Unit.objects.filter(
            region__path__startswith=region.path
        ).select_related("region")
        self.fields["role"].initial = MechanismRole.MEMBER

    def _post_clean(self) -> None:
        pass


class OfficerRowForm(forms.Form):
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    post = forms.CharField(label=_("职务"), max_length=100, required=False)
    phone = forms.CharField(label=_("联系电话"), max_length=30, required=False)
    department = forms.CharField(label=_("所在部门"), max_length=100, required=False)


OfficerFormSet = forms.formset_factory(OfficerRowForm, extra=2, max_num=50)


class ReturnForm(forms.Form):
    reason = forms.CharField(label=_("退回原因"), widget=forms.Textarea(attrs={"rows": 3}))


class ImportForm(forms.Form):
    file = forms.FileField(label=_("导入文件（XLSX）"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise ValidationError(_("请上传由模板填写的 .xlsx 文件。"))
        return upload
