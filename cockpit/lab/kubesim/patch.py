"""The three PATCH flavours the API server accepts for built-in types.

- application/json-patch+json (RFC 6902): a list of add/replace/remove/test operations;
- application/merge-patch+json (RFC 7386): dicts merge, null deletes, lists replace;
- application/strategic-merge-patch+json: like merge, but lists of named items (containers,
  env, ports) merge by "name", and `$setElementOrder`/`$retainKeys` directives are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from cockpit.lab.kubesim.jsontypes import JSON, as_array, as_object, objects_in


class PatchError(ValueError):
    """A patch the server rejects (answered 422 or 415)."""


def merge_patch(target: object, patch: object, strategic: bool = False) -> object:
    """Apply a JSON merge patch (strategic if asked) and return the result."""
    changes = as_object(patch)
    if changes is None:
        return copy.deepcopy(patch)
    current = as_object(target)
    result: JSON = copy.deepcopy(current) if current is not None else {}
    for key, value in changes.items():
        if key.startswith("$"):
            continue  # strategic directives: ordering hints, not data
        items = as_array(value)
        if value is None:
            result.pop(key, None)
        elif strategic and items is not None and _named_list(items):
            result[key] = _merge_named(result.get(key) or [], objects_in(items))
        elif as_object(value) is not None:
            result[key] = merge_patch(result.get(key), value, strategic)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _named_list(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _merge_named(current: list[Any], patch: list[JSON]) -> list[Any]:
    merged = [copy.deepcopy(i) for i in current]
    index = {
        item.get("name"): pos for pos, item in enumerate(merged) if as_object(item) is not None
    }
    for item in patch:
        if item.get("$patch") == "delete":
            merged = [m for m in merged if m.get("name") != item["name"]]
            index = {m.get("name"): pos for pos, m in enumerate(merged)}
        elif item["name"] in index:
            merged[index[item["name"]]] = merge_patch(merged[index[item["name"]]], item, True)
        else:
            merged.append(copy.deepcopy(item))
            index[item["name"]] = len(merged) - 1
    return merged


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: JSON, parts: list[str], op: JSON) -> list[Any] | JSON:
    """The array or object the pointer's last part names a member of (missing objects created)."""
    parent: list[Any] | JSON = doc
    for part in parts:
        child = parent.setdefault(part, {}) if isinstance(parent, dict) else parent[int(part)]
        items, obj = as_array(child), as_object(child)
        if items is not None:
            parent = items
        elif obj is not None:
            parent = obj
        else:  # a path through a string or number
            raise PatchError(f"{op['op']} operation does not apply: {op['path']}")
    return parent


def json_patch(target: JSON, operations: list[Any]) -> JSON:
    """Apply an RFC 6902 JSON patch (add, replace, remove, test)."""
    doc = copy.deepcopy(target)
    for op in operations:
        parts = _pointer(op["path"])
        parent = _container(doc, parts[:-1], op)
        last = parts[-1]
        kind = op["op"]
        try:
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(op["value"])
                    elif kind == "add":
                        parent.insert(int(last), op["value"])
                    else:
                        parent[int(last)] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise PatchError(f"replace operation does not apply: {op['path']}")
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    del parent[int(last)]
                else:
                    del parent[last]
            elif kind == "test":
                actual = parent[int(last)] if isinstance(parent, list) else parent.get(last)
                if actual != op.get("value"):
                    raise PatchError(f"test operation failed: {op['path']}")
            else:
                raise PatchError(f"unsupported JSON patch op {kind!r}")
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"{kind} operation does not apply: {op['path']}") from exc
    return doc


def apply_patch(target: JSON, body: object, content_type: str) -> JSON:
    """Apply a PATCH body according to its Content-Type."""
    media = content_type.split(";")[0].strip()
    if media == "application/json-patch+json":
        operations = as_array(body)
        if operations is None:
            raise PatchError("json patch body must be a list of operations")
        return json_patch(target, operations)
    if media in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        patched = as_object(merge_patch(target, body, strategic="strategic" in media))
        if patched is None:  # the body was an array, a string or a number, not an object
            raise PatchError(f"a {media} body must be a JSON object")
        return patched
    raise PatchError(f"the server does not support patch type {media!r}")
