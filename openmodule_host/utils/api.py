"""A small HTTP client for services that call a remote API (openmodule's ``Api``, ``utils/api.py``, up to 10.x).

``Api(host, auth_type, verify_ssl, user, password)`` sends JSON requests to paths below ``host`` with
basic, digest or no authentication and a 10 s timeout, and returns the parsed JSON (or the raw body).
Anything but a 2xx answer raises :class:`ApiException` with the status; a timeout is status 408, any
other failure (connection refused, a body that is not JSON, ...) 400. ``retry`` says whether trying again
later makes sense (408, 412, 500, 503); there is no retry loop: the caller decides.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from urllib.parse import urljoin

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

__all__ = ["Api", "ApiException", "AuthMethod"]

_RETRY_STATUSES = frozenset({503, 412, 500, 408})


class ApiException(Exception):
    def __init__(self, status_code: int, msg: str = "") -> None:
        super().__init__(status_code, msg)
        self.status = status_code
        self.msg = msg
        self.retry = status_code in _RETRY_STATUSES

    def __str__(self) -> str:
        return f"Api Error {self.status}: {self.msg}"


class AuthMethod(StrEnum):
    digest = "digest"
    basic = "basic"
    none = "none"


class Api:
    """Requests to one server; subclass it and override :meth:`_common_headers` for headers every request
    carries."""

    def __init__(self, host: str, auth_type: AuthMethod | str, verify_ssl: bool, user: str = "user",
                 password: str = "password") -> None:
        self.server_host = host
        self.auth = self.get_auth(auth_type, user, password)
        self.verify_ssl = verify_ssl
        self.request_timeout = 10

    @classmethod
    def get_auth(cls, auth_type: AuthMethod | str, user: str, password: str) -> AuthBase | None:
        if auth_type == AuthMethod.basic:
            return HTTPBasicAuth(user, password)
        if auth_type == AuthMethod.digest:
            return HTTPDigestAuth(user, password)
        return None

    @classmethod
    def _common_headers(cls) -> dict[str, str]:
        return {}

    def _request(self, method: str, url: str, payload: Any = None, json_response: bool = True, **kwargs: Any) -> Any:
        url = urljoin(self.server_host, url)
        timeout = kwargs.pop("timeout", self.request_timeout)
        headers = {**self._common_headers(), **kwargs.pop("headers", {})}
        try:
            response = requests.request(method.upper(), url, **kwargs, timeout=timeout, headers=headers,
                                        verify=self.verify_ssl, json=payload, auth=self.auth)
            if 200 <= response.status_code < 300:
                return response.json() if json_response else response.content
        except requests.Timeout:
            raise ApiException(status_code=408, msg=f"Timeout after {timeout}s") from None
        except Exception as error:
            raise ApiException(status_code=400, msg=str(error)) from None
        raise ApiException(status_code=response.status_code, msg="Server error")

    def get(self, url: str, payload: Any = None, json_response: bool = True, **kwargs: Any) -> Any:
        return self._request("GET", url, payload, json_response, **kwargs)

    def post(self, url: str, payload: Any = None, json_response: bool = True, **kwargs: Any) -> Any:
        return self._request("POST", url, payload, json_response, **kwargs)

    def put(self, url: str, payload: Any = None, json_response: bool = True, **kwargs: Any) -> Any:
        return self._request("PUT", url, payload, json_response, **kwargs)

    def delete(self, url: str, payload: Any = None, json_response: bool = True, **kwargs: Any) -> Any:
        return self._request("DELETE", url, payload, json_response, **kwargs)
