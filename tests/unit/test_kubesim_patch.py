"""The simulator's three PATCH flavours, as `kubectl patch` and the cockpit's actions send them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cockpit.lab.kubesim import objects
from cockpit.lab.kubesim.patch import PatchError, apply_patch

JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def deployment() -> dict[str, Any]:
    dep = objects.deployment("api", "predictiq", 3, {"app": "api"}, "registry/api:1")
    dep["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "WORKERS", "value": "4"},
    ]
    return dep


def _container(dep: dict[str, Any]) -> dict[str, Any]:
    return dep["spec"]["template"]["spec"]["containers"][0]


def test_strategic_merge_merges_containers_and_env_by_name(deployment):
    before = copy.deepcopy(deployment)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "api"}],
                    "containers": [
                        {
                            "name": "api",
                            "env": [
                                {"name": "WORKERS", "value": "8"},
                                {"name": "DEBUG", "value": "1"},
                            ],
                        }
                    ],
                }
            }
        }
    }

    patched = apply_patch(deployment, patch, STRATEGIC + "; charset=utf-8")

    container = _container(patched)
    assert container["image"] == "registry/api:1"  # untouched fields of the named item stay
    assert container["env"] == [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "WORKERS", "value": "8"},
        {"name": "DEBUG", "value": "1"},
    ]
    assert deployment == before  # the stored object is never mutated


def test_strategic_delete_directive_removes_the_named_item(deployment):
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "api", "env": [{"name": "LOG_LEVEL", "$patch": "delete"}]},
                    ]
                }
            }
        }
    }

    patched = apply_patch(deployment, patch, STRATEGIC)

    assert _container(patched)["env"] == [{"name": "WORKERS", "value": "4"}]


def test_merge_patch_replaces_lists_and_null_deletes(deployment):
    patch = {
        "metadata": {"annotations": None, "labels": {"tier": "web"}},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "s:1"}]}}},
    }

    patched = apply_patch(deployment, patch, MERGE)

    assert "annotations" not in patched["metadata"]
    assert patched["metadata"]["labels"] == {"app": "api", "tier": "web"}
    assert patched["spec"]["template"]["spec"]["containers"] == [
        {"name": "sidecar", "image": "s:1"}
    ]


def test_json_patch_add_replace_remove_and_test(deployment):
    operations = [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/annotations/owner~1team", "value": "sre"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "X"}},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/0", "value": {"name": "Y"}},
        {"op": "remove", "path": "/spec/template/spec/containers/0/env/1"},
    ]

    patched = apply_patch(deployment, operations, JSON_PATCH)

    assert patched["spec"]["replicas"] == 5
    assert patched["metadata"]["annotations"]["owner/team"] == "sre"
    assert [e["name"] for e in _container(patched)["env"]] == ["Y", "WORKERS", "X"]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ([{"op": "test", "path": "/spec/replicas", "value": 4}], "test operation does not apply"),
        (
            [{"op": "replace", "path": "/spec/nothing", "value": 1}],
            "replace operation does not apply",
        ),
        (
            [{"op": "remove", "path": "/spec/template/spec/containers/3"}],
            "remove operation does not",
        ),
        ([{"op": "move", "path": "/spec/replicas"}], "move operation does not apply"),
        ([{"op": "add", "path": "spec/replicas", "value": 1}], "invalid JSON pointer"),
        # a path through a string: the server refuses it instead of dropping the connection
        ([{"op": "add", "path": "/metadata/name/x", "value": 1}], "add operation does not apply"),
    ],
)
def test_json_patch_that_does_not_apply_is_refused(deployment, operations, message):
    with pytest.raises(PatchError, match=message):
        apply_patch(deployment, operations, JSON_PATCH)


@pytest.mark.parametrize(
    ("body", "media", "message"),
    [
        ({"op": "add"}, JSON_PATCH, "must be a list of operations"),
        ([{"replicas": 2}], MERGE, "must be a JSON object"),
        ("replicas", STRATEGIC, "must be a JSON object"),
        (None, MERGE, "must be a JSON object"),
        ({"spec": {}}, "application/apply-patch+yaml", "does not support patch type"),
    ],
)
def test_patch_bodies_of_the_wrong_shape_are_refused(deployment, body, media, message):
    with pytest.raises(PatchError, match=message):
        apply_patch(deployment, body, media)
