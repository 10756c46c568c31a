"""Which columns a narrow table drops first, and how its flexible column shrinks."""

from widgets.panes.columns import MIN_FLEX, fit_columns

PODS = {
    "name": 25,
    "status": 11,
    "ready": 5,
    "restarts": 8,
    "cpu": 4,
    "mem": 4,
    "age": 5,
    "node": 8,
}
DROP = ("node", "mem", "age", "cpu", "restarts")


def test_a_wide_table_keeps_every_column() -> None:
    assert fit_columns(PODS, 200, DROP).dropped == frozenset()


def test_a_53_column_pane_drops_the_least_important_first_and_keeps_name_and_status() -> None:
    fit = fit_columns(PODS, 51, DROP)
    assert fit.dropped == {"node", "mem", "age", "cpu", "restarts"}
    assert {"name", "status", "ready"}.isdisjoint(fit.dropped)
    assert fit_columns(PODS, 70, DROP).dropped == {"node", "mem"}  # 86 - 10 - 6 = 70


def test_the_flexible_column_takes_what_is_left_before_others_go() -> None:
    db = {"pid": 5, "state": 13, "for": 7, "query": 48, "user": 9}
    fit = fit_columns(db, 60, ("user",), flex="query")
    assert fit.dropped == frozenset() and fit.flex_width == 60 - (7 + 15 + 9 + 11) - 2
    narrow = fit_columns(db, 45, ("user",), flex="query")
    assert (
        narrow.dropped == {"user"}
        and narrow.flex_width is not None
        and narrow.flex_width >= MIN_FLEX
    )
