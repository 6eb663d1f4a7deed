"""The API's pagination. A module of its own: DRF imports the default pagination class
while its views load, so it must not import views itself."""

from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """LimitOffset pages with bounds: a page holds at most ``max_limit`` rows (one request
    cannot ask for a whole province), and an offset past what a database offset can hold
    reads as the end of the list instead of failing."""

    max_limit = 1000
    max_offset = 2**31 - 1

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)
