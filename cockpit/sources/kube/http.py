"""The few Kubernetes API requests the source sends, as raw HTTP through the client's ApiClient.

The generated API classes (`client.CoreV1Api` and friends) import a pydantic model module for
every type their methods mention: the six the source used to build cost ~30 MB of RSS and 0.1 s
of imports, yet the source never builds a model (it asks for `_preload_content=False` and parses
the JSON itself, see kube/parse.py). So requests are serialized here with the same ApiClient (its
configuration: host, TLS, bearer token or client certificate, default headers, connection pool)
and answered with the urllib3 response, exactly what `_preload_content=False` returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException

from cockpit.sources.fields import Json, as_mapping

# Python keyword arguments (as the generated list methods take them) -> API query parameters.
_QUERY = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "watch": "watch",
    "resource_version": "resourceVersion",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "timeout_seconds": "timeoutSeconds",
    "limit": "limit",
    "_continue": "continue",
}


class NotJsonAnswer(ValueError):
    """The API server (or a proxy in front of it) answered something that is not JSON."""

    def __init__(self, kind: str, preview: str) -> None:
        super().__init__(f"the API server's answer is not JSON ({kind}): {preview!r}")
        self.kind, self.preview = kind, preview

    @property
    def short(self) -> str:
        """'not JSON (text/html)': the cause, for a pane's status line."""
        return f"not JSON ({self.kind.split(';')[0].strip()})"


def read_json(resp: Any) -> Json:
    """The JSON object of an unread urllib3 response, released afterwards. A proxy's HTML page or
    any other non-JSON answer is a ValueError that says what came back, not a bare parse error."""
    try:
        data = resp.data
        try:
            doc: object = json.loads(data)
        except ValueError:
            kind = (
                resp.headers.get("Content-Type", "no content type")
                if resp.headers
                else "no content type"
            )
            preview = " ".join(data[:60].decode("utf-8", "replace").split())
            raise NotJsonAnswer(kind, preview) from None
        found = as_mapping(doc)
        if found is not doc:
            raise ValueError(
                f"the API server answered JSON that is not an object: {type(doc).__name__}"
            )
        return found
    finally:
        resp.release_conn()


class RawApi:
    """GET/POST of JSON against the API server through one ApiClient, no model classes."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        timeout: Any = None,
    ) -> Any:
        """Send one request; the urllib3 response (not read) for a 2xx, else ApiException."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        method, url, headers, body, post = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        answer = self.api_client.call_api(
            method,
            url,
            header_params=headers,
            body=body,
            post_params=post,
            _request_timeout=timeout,
        )
        if not 200 <= answer.status <= 299:
            answer.read()  # as the generated methods do: the error carries the server's body
            raise ApiException(http_resp=answer)
        return answer.response

    def get_json(
        self, path: str, query: list[tuple[str, Any]] | None = None, timeout: Any = None
    ) -> Json:
        """GET and parse the JSON body."""
        return self._read(self.request("GET", path, query, timeout=timeout))

    def post_json(self, path: str, body: Json, timeout: Any = None) -> Json:
        """POST a JSON body and parse the JSON answer."""
        return self._read(self.request("POST", path, body=body, timeout=timeout))

    @staticmethod
    def _read(resp: Any) -> Json:
        return read_json(resp)

    def lister(self, path: str) -> Callable[..., Any]:
        """A list/watch function for `path` ('/api/v1/namespaces/{namespace}/pods') taking the
        generated list methods' keyword arguments (namespace, label_selector, watch, ...,
        _request_timeout), as ListWatch calls them; returns the unread response."""

        def call(
            *,
            namespace: str | None = None,
            _request_timeout: Any = None,
            _preload_content: bool = False,
            **params: Any,
        ) -> Any:
            query = [(_QUERY[k], v) for k, v in params.items() if v is not None]
            url = path.replace("{namespace}", quote(namespace or "", safe=""))
            return self.request("GET", url, query, timeout=_request_timeout)

        return call
