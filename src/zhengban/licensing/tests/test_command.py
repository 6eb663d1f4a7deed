import io

import pytest
from django.core.management import CommandError, call_command

from zhengban.licensing.models import ComplianceResult
from zhengban.licensing.testing import install, make_device


def test_recompute_command_reports_and_writes(org):
    device = make_device(org.unit_a, "a1")
    install(device, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    out, err = io.StringIO(), io.StringIO()
    call_command("compliance", "recompute", stdout=out, stderr=err)
    assert "1 个需授权的安装" in out.getvalue()
    assert "未授权 1" in out.getvalue()
    assert "1/1 个单位" in err.getvalue()
    assert ComplianceResult.objects.get().reason == "no_entitlement"
    call_command("compliance", "recompute", "--unit", str(org.unit_a.pk), stdout=out)
    assert "已重算 1 个单位,更新 0 条结果。" in out.getvalue()


@pytest.mark.django_db
def test_recompute_command_rejects_bad_input():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("compliance", "recompute", "--as-of", "yesterday")
    with pytest.raises(CommandError, match="未找到单位"):
        call_command("compliance", "recompute", "--unit", "999999")
