from django import forms
from django.utils.translation import gettext_lazy as _

from zhengban.inventory.services import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS
from zhengban.orgs.models import Unit


class EnrollmentTokenForm(forms.Form):
    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), label=_("单位"))
    label = forms.CharField(label=_("说明"), max_length=100, required=False)
    days = forms.IntegerField(
        label=_("有效天数"), min_value=1, max_value=MAX_TOKEN_DAYS, initial=DEFAULT_TOKEN_DAYS
    )

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units if units is not None else Unit.objects.none()
