"""The three PATCH flavours the API server accepts for built-in types.

- application/json-patch+json (RFC 6902): a list of add/replace/remove/test operations;
- application/merge-patch+json (RFC 7386): dicts merge, null deletes, lists replace;
- application/strategic-merge-patch+json: like merge, but lists of named items (containers,
  env, ports) merge by "name", and `$setElementOrder`/`$retainKeys` directives are ignored.
"""

from __future__ import annotations

import copy


class PatchError(ValueError):
    """A patch the server rejects (answered 422 or 415)."""


def merge_patch(target: object, patch: object, strategic: bool = False) -> object:
    """Apply a JSON merge patch (strategic if asked) and return the result."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # strategic directives: ordering hints, not data
        if value is None:
            result.pop(key, None)
        elif strategic and isinstance(value, list) and _named_list(value):
            result[key] = _merge_named(result.get(key) or [], value)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value, strategic)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _named_list(items: list) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _merge_named(current: list, patch: list) -> list:
    merged = [copy.deepcopy(i) for i in current]
    index = {item.get("name"): pos for pos, item in enumerate(merged) if isinstance(item, dict)}
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


def json_patch(target: dict, operations: list) -> dict:
    """Apply an RFC 6902 JSON patch (add, replace, remove, test)."""
    doc = copy.deepcopy(target)
    for op in operations:
        parts = _pointer(op["path"])
        parent: object = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
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
                del parent[int(last) if isinstance(parent, list) else last]
            elif kind == "test":
                actual = parent[int(last)] if isinstance(parent, list) else parent.get(last)
                if actual != op.get("value"):
                    raise PatchError(f"test operation failed: {op['path']}")
            else:
                raise PatchError(f"unsupported JSON patch op {kind!r}")
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"{kind} operation does not apply: {op['path']}") from exc
    return doc


def apply_patch(target: dict, body: object, content_type: str) -> dict:
    """Apply a PATCH body according to its Content-Type."""
    media = content_type.split(";")[0].strip()
    if media == "application/json-patch+json":
        if not isinstance(body, list):
            raise PatchError("json patch body must be a list of operations")
        return json_patch(target, body)
    if media == "application/merge-patch+json":
        return merge_patch(target, body)  # type: ignore[return-value]
    if media == "application/strategic-merge-patch+json":
        return merge_patch(target, body, strategic=True)  # type: ignore[return-value]
    raise PatchError(f"the server does not support patch type {media!r}")
