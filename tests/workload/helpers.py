"""Helpers for the workload tests: an HTTP client that never raises on an error status."""

from __future__ import annotations

import http.client as http_client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from archconform.settings import Timeouts

#: Local processes start in well under a second; these bound a broken one.
LOCAL_TIMEOUTS = Timeouts(load_start=15.0, probe=3.0)
#: One HTTP call to the local workload.
HTTP_TIMEOUT = 10.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http(url: str, *, method: str = "GET", source: str | None = None,
         timeout: float = HTTP_TIMEOUT) -> Reply:
    """One request on a fresh connection, optionally from a given loopback source address."""
    parts = urlsplit(url)
    conn = http_client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        conn.close()
