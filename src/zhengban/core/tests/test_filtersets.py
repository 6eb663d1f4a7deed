import django_filters
from django.apps import apps

from zhengban.core.filtersets import BooleanFilter, FilterSet, YesNoSelect


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_filter_set_reads_yes_and_no_alike():
    # Import every app's filter sets and API modules, then check what they define.
    for config in apps.get_app_configs():
        if config.name.startswith("zhengban."):
            for module in ("filtersets", "api"):
                try:
                    __import__(f"{config.name}.{module}")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{config.name}.{module}":
                        raise
    ours = [
        cls
        for cls in _subclasses(django_filters.FilterSet)
        if cls.__module__.startswith("zhengban.") and ".tests" not in cls.__module__
    ]
    assert len(ours) >= 20
    strays = [f"{c.__module__}.{c.__name__}" for c in ours if not issubclass(c, FilterSet)]
    assert strays == []
    for cls in ours:
        for name, flt in cls.base_filters.items():
            if isinstance(flt, django_filters.BooleanFilter):
                assert isinstance(flt, BooleanFilter), f"{cls.__name__}.{name}"


def test_yes_no_select_spellings():
    widget = YesNoSelect()
    read = lambda value: widget.value_from_datadict({"x": value}, {}, "x")  # noqa: E731
    assert [read(v) for v in ("1", "true", "True", " yes ", "on", "2", True)] == [True] * 7
    assert [read(v) for v in ("0", "false", "FALSE", "no", "off", "3", False)] == [False] * 7
    assert [read(v) for v in ("", "maybe", None, "-1")] == [None] * 4
    assert widget.value_from_datadict({}, {}, "x") is None
