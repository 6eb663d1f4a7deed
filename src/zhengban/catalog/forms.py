from django import forms
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.choices import Category, LicenseModel, Platform, RuleType
from zhengban.catalog.models import Product, ProductFamily, Publisher


class RuleFromUnrecognisedForm(forms.Form):
    """Turn one unrecognised record into a rule: an alias of a known product or a new one."""

    name = forms.CharField(label=_("软件名称"), max_length=500)
    publisher = forms.CharField(label=_("发行商"), max_length=300, required=False)
    platform = forms.ChoiceField(
        label=_("平台"), choices=[("", _("任意"))] + list(Platform.choices), required=False
    )
    rule_type = forms.ChoiceField(
        label=_("规则类型"), choices=RuleType.choices, initial=RuleType.NORMALIZED
    )
    pattern = forms.CharField(
        label=_("匹配内容"), max_length=500, required=False, help_text=_("留空则由名称自动生成")
    )
    match_publisher = forms.BooleanField(label=_("同时匹配发行商"), required=False)
    product = forms.ModelChoiceField(
        label=_("归入已有产品"), queryset=Product.objects.none(), required=False
    )
    new_key = forms.SlugField(label=_("新产品标识"), required=False)
    new_name = forms.CharField(label=_("新产品名称"), max_length=200, required=False)
    new_edition = forms.CharField(label=_("版本类型"), max_length=100, required=False)
    new_category = forms.ChoiceField(
        label=_("类别"), choices=[("", "—")] + list(Category.choices), required=False
    )
    new_license_model = forms.ChoiceField(
        label=_("许可模式"), choices=[("", "—")] + list(LicenseModel.choices), required=False
    )
    new_domestic = forms.BooleanField(label=_("国产"), required=False)
    new_home_edition = forms.BooleanField(label=_("家庭/个人版"), required=False)
    inhouse = forms.BooleanField(label=_("本单位自有软件"), required=False)

    def __init__(self, *args, products=None, **kwargs):
        super().__init__(*args, **kwargs)
        if products is not None:
            self.fields["product"].queryset = products

    def clean(self):
        data = super().clean()
        if not data.get("product") and not data.get("new_key"):
            raise forms.ValidationError(_("请选择已有产品或填写新产品标识。"))
        if data.get("new_key"):
            for field in ("new_name", "new_category", "new_license_model"):
                if not data.get(field):
                    self.add_error(field, _("新建产品时必填。"))
        return data

    def new_product_spec(self):
        data = self.cleaned_data
        if not data.get("new_key"):
            return None
        return {
            "key": data["new_key"],
            "name": data["new_name"],
            "edition": data.get("new_edition") or "",
            "category": data["new_category"],
            "license_model": data["new_license_model"],
            "domestic": data.get("new_domestic", False),
            "home_edition": data.get("new_home_edition", False),
        }


class ProductForm(forms.ModelForm):
    """Edit a product; on creation also its key, family and (officers) in-house flag."""

    key = forms.SlugField(label=_("标识"), required=False, help_text=_("新建时必填,之后不能修改"))
    family = forms.ModelChoiceField(
        label=_("系列"),
        queryset=ProductFamily.objects.order_by("name"),
        required=False,
        help_text=_("留空则新建与产品同名的系列"),
    )
    inhouse = forms.BooleanField(label=_("本单位自有软件"), required=False)

    class Meta:
        model = Product
        fields = [
            "name",
            "edition",
            "publisher",
            "category",
            "license_model",
            "domestic",
            "home_edition",
            "description",
        ]

    def __init__(self, *args, creating: bool = False, families=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["publisher"].queryset = Publisher.objects.order_by("name")
        if families is not None and "family" in self.fields:
            self.fields["family"].queryset = families
        if not creating:
            for name in ("key", "family", "inhouse"):
                del self.fields[name]
        else:
            self.order_fields(["key", "family", "name"])

    def clean_key(self):
        key = self.cleaned_data.get("key", "")
        if "key" in self.fields and not key:
            raise forms.ValidationError(_("新建产品时必填。"))
        return key

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class PublisherForm(forms.ModelForm):
    key = forms.SlugField(label=_("标识"), required=False, help_text=_("新建时必填,之后不能修改"))
    aliases = forms.CharField(
        label=_("别名"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("每行一个,如 Microsoft Corporation、微软公司"),
    )

    class Meta:
        model = Publisher
        fields = ["name", "name_zh", "domestic"]

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["key"]
            self.initial["aliases"] = "\n".join(self.instance.aliases or [])
        else:
            self.order_fields(["key", "name"])

    def clean_key(self):
        key = self.cleaned_data.get("key", "")
        if "key" in self.fields and not key:
            raise forms.ValidationError(_("新建发行商时必填。"))
        return key

    def values(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "name_zh": data.get("name_zh") or "",
            "domestic": data.get("domestic", False),
            "aliases": data.get("aliases") or "",
        }
