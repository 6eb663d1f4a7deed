from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengban.core.filtersets import LARGE_CHOICES
from zhengban.inventory.choices import DeviceType
from zhengban.inventory.models import Device
from zhengban.inventory.services import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS
from zhengban.orgs.models import Department, Unit, User


class EnrollmentTokenForm(forms.Form):
    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("单位"))
    label = forms.CharField(label=_("说明"), max_length=100, required=False)
    days = forms.IntegerField(
        label=_("有效天数"), min_value=1, max_value=MAX_TOKEN_DAYS, initial=DEFAULT_TOKEN_DAYS
    )

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units if units is not None else Unit.objects.none()


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern): a list of uploads."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            if not data and self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class ImportForm(forms.Form):
    KIND_CHOICES = [("table", _("XLSX/CSV 表格（按模板）")), ("regfile", _("注册表导出 .reg"))]

    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("单位"))
    kind = forms.ChoiceField(choices=KIND_CHOICES, label=_("文件类型"))
    hostname = forms.CharField(label=_("计算机名（.reg 导入必填）"), max_length=255, required=False)
    serial_number = forms.CharField(label=_("序列号"), max_length=100, required=False)
    file = MultipleFileField(
        label=_("文件"),
        help_text=_("表格一次一个文件；.reg 可同时选择同一台计算机的多个导出文件。"),
    )

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units if units is not None else Unit.objects.none()

    def clean(self):
        data = super().clean()
        if data.get("kind") == "table" and len(data.get("file") or []) > 1:
            self.add_error("file", _("表格导入一次只能上传一个文件。"))
        return data


class _AccountChoice(forms.ModelChoiceField):
    def to_python(self, value):
        # A typed user name (large units) may carry stray spaces.
        return super().to_python(value.strip() if isinstance(value, str) else value)

    unit_id: int | None = None  # the device's unit: accounts of others are marked

    def label_from_instance(self, obj: User) -> str:
        label = (
            f"{obj}（{obj.username}）" if obj.full_name not in ("", obj.username) else obj.username
        )
        if not obj.is_active:
            label += _("（已停用）")
        if self.unit_id is not None and obj.unit_id != self.unit_id:
            label += _("（已调离本单位）")
        return label


def assignable_accounts(device: Device):
    """The accounts a device may be assigned to: its unit's active ones, and the one it has
    (deactivated or moved to another unit since, it stays until someone picks another, so
    other edits still save and do not drop it unseen)."""
    current = Q(pk=device.assigned_user_id) if device.assigned_user_id else Q(pk__in=[])
    return User.objects.filter(Q(is_active=True, unit_id=device.unit_id) | current).order_by(
        "username"
    )


class DeviceForm(forms.Form):
    """What people maintain about a device; agents never overwrite these fields."""

    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), required=False, label=_("部门")
    )
    assigned_user = _AccountChoice(
        queryset=User.objects.none(),
        required=False,
        label=_("使用人账号"),
        help_text=_("本单位人员的账号：本人自查、申请安装软件和按用户授权都据此认定其终端。"),
        error_messages={"invalid_choice": _("所选账号不是本单位的在用账号。")},
    )
    assigned_name = forms.CharField(label=_("使用人"), max_length=50, required=False)
    asset_number = forms.CharField(label=_("资产编号"), max_length=64, required=False)
    device_type = forms.ChoiceField(choices=DeviceType.choices, label=_("类型"))

    def __init__(self, *args, device=None, **kwargs):
        super().__init__(*args, **kwargs)
        if device is None:
            return
        self.fields["department"].queryset = Department.objects.filter(unit=device.unit)
        accounts = self.fields["assigned_user"]
        accounts.queryset = assignable_accounts(device)
        accounts.unit_id = device.unit_id
        # A large unit's people as a drop-down would be megabytes of HTML: as core's filter
        # forms do past LARGE_CHOICES, the field takes the account's user name instead.
        if accounts.queryset.order_by()[:LARGE_CHOICES].count() >= LARGE_CHOICES:
            accounts.to_field_name = "username"
            accounts.widget = forms.TextInput(attrs={"placeholder": _("用户名")})
            accounts.help_text = _("本单位人员较多，请输入使用人账号的用户名；留空表示不关联账号。")


class _DepartmentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Department) -> str:
        return f"{obj.unit} / {obj.name}"


class DeviceMoveForm(forms.Form):
    """Hand a device to another unit; the service checks the rules again."""

    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("移交到单位"))
    department = _DepartmentChoice(
        queryset=Department.objects.none(),
        required=False,
        label=_("部门"),
        help_text=_("可不选；所选部门须属于移交到的单位。"),
    )
    reason = forms.CharField(
        label=_("移交原因"), max_length=200, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        units = units if units is not None else Unit.objects.none()
        self.fields["unit"].queryset = units
        self.fields["department"].queryset = (
            Department.objects.filter(unit__in=units)
            .select_related("unit")
            .order_by("unit__name", "name")
        )

    def clean(self):
        data = super().clean()
        unit, department = data.get("unit"), data.get("department")
        if unit is not None and department is not None and department.unit_id != unit.pk:
            self.add_error("department", _("部门不属于移交到的单位。"))
        return data


class DeviceRetireForm(forms.Form):
    """Retire a device; the service checks the rules again."""

    reason = forms.CharField(
        label=_("退役原因"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("如：报废、丢失、更换主板后的重复记录。退役后不再计入合规和终端列表。"),
    )
