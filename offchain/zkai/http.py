"""Requests to the ZKAI API from the command line, with one message when it does not answer."""

from __future__ import annotations

from typing import Any

import requests

from zkai.errors import ZKAIError

__all__ = ["api_request"]

TIMEOUT_S = 30.0


def api_request(
    base_url: str,
    method: str,
    path: str,
    *,
    error: type[ZKAIError],
    session: requests.Session | None = None,
    timeout: float = TIMEOUT_S,
    **kwargs: Any,
) -> requests.Response:
    """`method` `base_url + path`; `error` saying how to start the API when none answers.

    The response is returned whatever its status: callers decide what a 404 or a 4xx means.
    """
    url = f"{base_url.rstrip('/')}{path}"
    try:
        return (session or requests).request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise error(
            f"the API at {base_url} does not answer ({type(exc).__name__}); start it with "
            "`zkai api` (or `zkai up`), or point ZKAI_API_URL at a running one"
        ) from None
