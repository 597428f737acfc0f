"""`CloudMLClient`: the service's API as Python methods. Signs with SigV4 through botocore; never exits."""

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from platform_services.auth.sigv4 import sign
from platform_services.sdk.errors import ServerError, from_response

API = "/cloud_ml/v1"


class CloudMLClient:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        region: str = "local",
        service: str = "cloudml",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self._secret_key = secret_key
        self.region = region
        self.service = service
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"CloudMLClient({self.endpoint!r}, access_key={self.access_key!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- transport ---------------------------------------------------------------------------------------
    def signed_request(
        self, method: str, path: str, params: dict | None = None, body: Any = None
    ) -> tuple[str, bytes, dict]:
        """(url, body, headers) of the request, signed, without sending it: for another HTTP client (curl, a
        load generator); each is accepted once by the server (it carries a nonce), within the clock window."""
        query = urlencode(
            sorted(
                (k, str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in (params or {}).items()
                if v is not None
            ),
            quote_via=quote,
        )
        url = self.endpoint + path + (f"?{query}" if query else "")
        data = b"" if body is None else httpx.Request("POST", url, json=body).read()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        # SigV4 timestamps have one-second resolution and the server accepts each signature once, so two
        # identical requests in the same second need something unique under the signature.
        headers["X-Cloudml-Nonce"] = secrets.token_hex(8)
        headers = sign(
            self.access_key,
            self._secret_key,
            method=method,
            url=url,
            body=data,
            region=self.region,
            service=self.service,
            headers=headers,
        )
        return url, data, headers

    def request(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> Any:
        url, data, headers = self.signed_request(method, path, params, body)
        try:
            response = self._http.request(method, url, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise ServerError(None, "Unreachable", f"{self.endpoint}: {exc}") from exc
        return self._answer(response)

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        content_type = response.headers.get("content-type", "")
        body = response.json() if content_type.startswith("application/json") else response.text
        if response.status_code >= 400:
            raise from_response(response.status_code, body)
        return body

    # ---- train jobs --------------------------------------------------------------------------------------
    def submit_train_job(self, spec: dict) -> dict:
        return self.request("POST", f"{API}/train", body=spec)

    def list_train_jobs(self, org_id: str | None = None) -> list[dict]:
        return self.request("GET", f"{API}/train", params={"org_id": org_id})["data"]

    def describe_train_job(self, job_name: str) -> dict:
        return self.request("GET", f"{API}/train/{quote(job_name, safe='')}")

    def delete_train_job(self, job_name: str) -> dict:
        return self.request("DELETE", f"{API}/train/{quote(job_name, safe='')}")

    def get_train_job_events(self, job_name: str) -> list[dict]:
        return self.request("GET", f"{API}/train/{quote(job_name, safe='')}/events")["data"]

    def get_train_job_logs(self, job_name: str, lines: int | None = None, replica: str | None = None) -> str:
        return self.request(
            "GET", f"{API}/train/{quote(job_name, safe='')}/logs", params={"lines": lines, "replica": replica}
        )

    def follow_train_job_logs(
        self, job_name: str, lines: int | None = None, replica: str | None = None
    ) -> Iterator[str]:
        """Yields log text as it is written, until the job ends."""
        url, _, headers = self.signed_request(
            "GET",
            f"{API}/train/{quote(job_name, safe='')}/logs",
            {"lines": lines, "replica": replica, "follow": True},
            None,
        )
        try:
            with self._http.stream("GET", url, headers=headers, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    self._answer(response)
                yield from response.iter_text()
        except httpx.HTTPError as exc:
            raise ServerError(None, "Unreachable", f"{self.endpoint}: {exc}") from exc

    # ---- quota, frameworks, identity ---------------------------------------------------------------------
    def get_quota(self, org_id: str | None = None) -> list[dict]:
        return self.request("GET", f"{API}/quota", params={"org_id": org_id})["data"]

    def update_quota(self, org_id: str, limits: dict) -> dict:
        return self.request("PUT", f"{API}/quota/{quote(org_id, safe='')}", body=limits)

    def list_frameworks(self) -> list[dict]:
        return self.request("GET", f"{API}/framework")["data"]

    def get_org_id(self) -> dict:
        return self.request("GET", f"{API}/org_ids")

    # ---- admin -------------------------------------------------------------------------------------------
    def create_org(self, org_id: str, quota: dict | None = None) -> dict:
        return self.request("POST", f"{API}/admin/orgs", body={"org_id": org_id, "quota": quota or {}})

    def list_orgs(self) -> list[dict]:
        return self.request("GET", f"{API}/admin/orgs")["data"]

    def create_key(self, org_id: str, role: str = "user", galaxy_v3: bool = False) -> dict:
        return self.request(
            "POST",
            f"{API}/admin/orgs/{quote(org_id, safe='')}/keys",
            body={"role": role, "galaxy_v3": galaxy_v3},
        )

    def list_keys(self, org_id: str | None = None) -> list[dict]:
        return self.request("GET", f"{API}/admin/keys", params={"org_id": org_id})["data"]

    def update_key(
        self, access_key: str, *, enabled: bool | None = None, galaxy_v3: bool | None = None
    ) -> dict:
        body = {k: v for k, v in {"enabled": enabled, "galaxy_v3": galaxy_v3}.items() if v is not None}
        return self.request("PATCH", f"{API}/admin/keys/{quote(access_key, safe='')}", body=body)

    def rotate_key(self, access_key: str) -> dict:
        return self.request("POST", f"{API}/admin/keys/{quote(access_key, safe='')}/rotate")
