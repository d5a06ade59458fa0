"""The typed client of Marcus's public API, through the gateway (`PUBLIC_API_URL`).

Each call carries the signed-in customer's bearer token and the page request's id, so
the gateway's and the services' log lines of a page view share one X-Request-ID. An
answer of 4xx (problem+json) becomes `ApiError` with the API's own words; no answer, or a
5xx, becomes `ApiUnavailable`, which the pages show as "try again" (nothing is lost: the
form keeps what was typed, and a retried checkout is deduplicated by its Idempotency-Key).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class ApiError(Exception):
    """The API refused the request (4xx): `detail` says why, in words for the customer."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.body = body or {}
        """The whole problem document (extension members, e.g. a 409's new `cart`)."""


class ApiUnavailable(Exception):
    """The API did not answer, or answered 5xx: try again later."""

    def __init__(self, detail: str, retry_after: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


def _problem(response: httpx.Response) -> ApiError:
    title, detail, errors = response.reason_phrase, "", []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = body.get("detail") or ""
        if not isinstance(detail, str):  # FastAPI's own validation errors: a list
            errors, detail = list(detail), ""
        errors = list(body.get("errors") or errors)
        if not detail and errors:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'input'}: {e.get('msg', e)}"
                if isinstance(e, dict)
                else str(e)
                for e in errors
            )
    return ApiError(
        response.status_code,
        title,
        detail or title,
        errors,
        body if isinstance(body, dict) else None,
    )


@dataclass
class PublicApi:
    """One page request's view of the API: its token and request id."""

    http: httpx.AsyncClient
    token: str | None = None
    request_id: str | None = None
    chat_timeout_s: float = 120.0
    headers: dict[str, str] = field(default_factory=dict)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.request_id:
            headers["X-Request-ID"] = self.request_id
        return headers | (extra or {})

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        read_timeout_s: float | None = None,
    ) -> Any:
        """JSON of a 2xx answer (None for 204); ApiError / ApiUnavailable otherwise."""
        try:
            response = await self.http.request(
                method,
                path,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                json=json_body,
                headers=self._headers(headers),
                timeout=httpx.Timeout(read_timeout_s, connect=5.0)
                if read_timeout_s
                else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"the shop did not answer ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise ApiUnavailable(_problem(response).detail, response.headers.get("Retry-After"))
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return await self.request("POST", path, json_body=body, **kwargs)

    # ------------------------------------------------------------- catalog
    async def categories(self) -> list[dict[str, Any]]:
        return list((await self.get("/api/v1/categories"))["items"])

    async def products(self, **filters: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/api/v1/products", **filters)
        return result

    async def product(self, product_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/api/v1/products/{product_id}")
        return result

    async def quote(self, product_id: str, options: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            f"/api/v1/products/{product_id}/quote", {"options": options}
        )
        return result

    # -------------------------------------------------------- cart, orders
    async def cart(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/api/v1/cart")
        return result

    async def add_line(
        self, product_id: str, quantity: int, options: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"product_id": product_id, "quantity": quantity}
        if options:
            body["options"] = options
        result: dict[str, Any] = await self.post("/api/v1/cart/lines", body)
        return result

    async def set_quantity(self, line_id: str, quantity: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PATCH", f"/api/v1/cart/lines/{line_id}", json_body={"quantity": quantity}
        )
        return result

    async def remove_line(self, line_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("DELETE", f"/api/v1/cart/lines/{line_id}")
        return result

    async def checkout(
        self, address: dict[str, Any], expected_total: str, idempotency_key: str
    ) -> dict[str, Any]:
        """Places the cart at the total the customer saw; a retry with the same key is the
        same order (the orders service replays it)."""
        result: dict[str, Any] = await self.post(
            "/api/v1/cart/checkout",
            {"address": address, "expected_total": expected_total},
            headers={"Idempotency-Key": idempotency_key},
        )
        return result

    async def orders(self, cursor: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/api/v1/orders", limit=20, cursor=cursor)
        return result

    async def order(self, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/api/v1/orders/{order_id}")
        return result

    async def cancel_order(self, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(f"/api/v1/orders/{order_id}/cancel")
        return result

    # ---------------------------------------------------- search, assistant
    async def search(self, query: str, k: int = 12, **filters: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/api/v1/search", q=query, k=k, **filters)
        return result

    async def recommendations(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/api/v1/recommendations", **params)
        return result

    async def start_chat(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("/api/v1/chat/sessions", {})
        return result

    async def chat_sessions(self) -> list[dict[str, Any]]:
        result = await self.get("/api/v1/chat/sessions")
        items = result.get("items", result) if isinstance(result, dict) else result
        return list(items)

    async def chat_session(self, session_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/api/v1/chat/sessions/{session_id}")
        return result

    async def chat_reply(self, session_id: str, text: str) -> dict[str, Any]:
        """The reply as one JSON answer (the page without JavaScript)."""
        result: dict[str, Any] = await self.request(
            "POST",
            f"/api/v1/chat/sessions/{session_id}/messages",
            json_body={"content": text},
            read_timeout_s=self.chat_timeout_s,
        )
        return result

    async def confirm_action(self, session_id: str, action_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            f"/api/v1/chat/sessions/{session_id}/actions/{action_id}/confirm",
            read_timeout_s=self.chat_timeout_s,
        )
        return result

    async def chat_stream(self, session_id: str, text: str) -> AsyncIterator[tuple[str, Any]]:
        """The assistant's reply as (event, data) pairs from its Server-Sent Events."""
        path = f"/api/v1/chat/sessions/{session_id}/messages"
        headers = self._headers({"Accept": "text/event-stream"})
        try:
            async with self.http.stream(
                "POST",
                path,
                json={"content": text},
                headers=headers,
                timeout=httpx.Timeout(self.chat_timeout_s, connect=5.0),
            ) as response:
                data: list[str]
                if response.status_code >= 400:
                    await response.aread()
                    if response.status_code >= 500:
                        raise ApiUnavailable(_problem(response).detail)
                    raise _problem(response)
                event, data = "message", []
                async for line in response.aiter_lines():
                    if not line:
                        if data:
                            yield event, _json_or_text("\n".join(data))
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                if data:
                    yield event, _json_or_text("\n".join(data))
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"the assistant did not answer ({type(exc).__name__})") from exc


def _json_or_text(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


def make_http(base_url: str, timeout_s: float) -> httpx.AsyncClient:
    """The app's one connection pool to the gateway."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        headers={"Accept": "application/json", "User-Agent": "marcus-storefront"},
    )
