# kubernetes/watch/watch.py: only the line splitter the cockpit's watch loop reads with.
from collections.abc import Iterator

from urllib3 import BaseHTTPResponse

def iter_resp_lines(resp: BaseHTTPResponse) -> Iterator[str]: ...
