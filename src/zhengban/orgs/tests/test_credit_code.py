import pytest
from django.core.exceptions import ValidationError

from zhengban.orgs.validators import (
    credit_code_check_char,
    make_credit_code,
    normalise_credit_code,
    validate_credit_code,
)


def error_of(code: str) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        validate_credit_code(code)
    return info.value.code, info.value.messages[0]


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # a published enterprise code
        "11370000MB00000002",
        make_credit_code("370102", 1),
        " 91350100m000100y43 ",  # pasted with spaces, lower case
    ],
)
def test_valid_codes(code):
    validate_credit_code(code)


def test_check_char_of_known_codes():
    assert credit_code_check_char("91350100M000100Y4") == "3"
    assert make_credit_code("370102", 1) == "113701020000000012"
    assert make_credit_code(
        "370102", 1, prefix="12"
    ) == "12370102000000001" + credit_code_check_char("12370102000000001")
    assert normalise_credit_code(" 9135 0100m000100y43") == "91350100M000100Y43"


def test_wrong_check_digit():
    assert error_of("91350100M000100Y44") == (
        "check_digit",
        "统一社会信用代码校验位错误：应为3，实为4。",
    )


@pytest.mark.parametrize("bad", ["I", "O", "Z", "S", "V", "-"])
def test_charset(bad):
    assert error_of("91350100M000100Y4" + bad)[0] == "charset"
    assert error_of("91350100M000100Y4" + bad)[1] == (
        "统一社会信用代码含有无效字符（不得使用I、O、Z、S、V）。"
    )


@pytest.mark.parametrize(
    "code,n", [("", 0), ("91350100M000100Y4", 17), ("91350100M000100Y433", 19)]
)
def test_length(code, n):
    assert error_of(code) == ("length", f"统一社会信用代码应为18位，当前为{n}位。")
