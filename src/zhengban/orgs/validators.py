"""统一社会信用代码 (GB 32100-2015) and administrative division codes (GB/T 2260)."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE_RE = re.compile(rf"^[{CREDIT_CODE_CHARSET}]{{18}}$")


def credit_code_check_char(first17: str) -> str:
    total = sum(CREDIT_CODE_CHARSET.index(ch) * w for ch, w in zip(first17, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def make_credit_code(region_code: str, serial: int, prefix: str = "11") -> str:
    """A valid 统一社会信用代码: registration prefix, region, 9-char org code, check char.

    Used by the demo and by tests; real codes come from the registration authorities."""
    body = f"{prefix}{region_code}{serial:09d}"
    return body + credit_code_check_char(body)


def normalise_credit_code(value: str) -> str:
    # People paste codes with spaces and in lower case; the stored form is upper case.
    return "".join((value or "").split()).upper()


def validate_credit_code(value: str) -> None:
    code = normalise_credit_code(value)
    if len(code) != 18:
        raise ValidationError(
            _("统一社会信用代码应为18位，当前为%(n)d位。") % {"n": len(code)}, code="length"
        )
    if not _CREDIT_CODE_RE.match(code):
        raise ValidationError(
            _("统一社会信用代码含有无效字符（不得使用I、O、Z、S、V）。"), code="charset"
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValidationError(
            _("统一社会信用代码校验位错误：应为%(expected)s，实为%(actual)s。")
            % {"expected": expected, "actual": code[17]},
            code="check_digit",
        )


def validate_region_code(value: str) -> None:
    if not re.fullmatch(r"[1-9]\d{5}", value or ""):
        raise ValidationError(_("行政区划代码应为6位数字。"), code="region_code")
