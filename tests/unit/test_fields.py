"""The typed reads of backend data: a JSON null, a missing key and a value of the wrong type all
give the declared type's default, never None where a str or an int is promised."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from cockpit.sources.fields import (
    as_items,
    boolean,
    integer,
    integers,
    items,
    mapping,
    number,
    optional_datetime,
    optional_integer,
    optional_number,
    optional_text,
    text,
)

POD = {
    "spec": {"nodeName": None, "containers": [{"name": "api"}, None, "junk", {"name": 7}]},
    "status": None,
    "metadata": {"name": "api-1", "generation": "3", "labels": []},
}


def test_a_null_is_the_default_of_the_declared_type():
    assert text(mapping(POD, "spec"), "nodeName") == ""
    assert optional_text(mapping(POD, "spec"), "nodeName") is None
    assert mapping(POD, "status") == {} and mapping(POD, "status", "containerStatuses") == {}
    assert items(mapping(POD, "status"), "containerStatuses") == []
    assert integer({"restartCount": None}, "restartCount") == 0
    assert integer({}, "replicas", 1) == 1 and integer({"replicas": None}, "replicas", 1) == 1


def test_values_of_another_type_are_not_passed_on():
    assert items(mapping(POD, "spec"), "containers") == [{"name": "api"}, {"name": 7}]
    assert text({"name": 7}, "name") == "7" and text({"name": True}, "name") == ""
    assert mapping(POD, "metadata", "labels") == {}  # a list where an object belongs
    assert integer(mapping(POD, "metadata"), "generation") == 3  # a numeric string
    assert integer({"n": 2.0}, "n") == 2 and optional_integer({"n": 2.5}, "n") is None
    assert optional_integer({"n": True}, "n") is None and optional_integer({"n": "x"}, "n") is None
    assert optional_integer({"n": float("inf")}, "n") is None
    assert boolean({"ready": "true"}, "ready") and not boolean({"ready": 1}, "ready")
    assert boolean({}, "ready", True) and not boolean({"ready": None}, "ready")
    assert as_items("not a list") == [] and as_items(({"a": 1},)) == [{"a": 1}]


def test_numbers_keep_nan_for_the_caller_to_judge_and_reject_words():
    assert math.isnan(number({"v": "NaN"}, "v")) and number({"v": "+Inf"}, "v") == math.inf
    assert optional_number({"v": "fast"}, "v") is None and number({"v": None}, "v", 1.5) == 1.5
    assert integers({"blocked_by": [3, None, "4", True, 5.0]}, "blocked_by") == (3, 4, 5)
    assert integers({"blocked_by": None}, "blocked_by") == ()


def test_datetimes_come_only_from_datetimes():
    moment = datetime(2025, 3, 14, tzinfo=UTC)
    assert optional_datetime({"t": moment}, "t") == moment
    assert optional_datetime({"t": "2025-03-14T00:00:00Z"}, "t") is None
    assert optional_datetime(None, "t") is None
