"""The shop's public API as the customer calls it: the catalog's quote, the orders
service's cart, orders and checkout, over HTTP.

The assistant acts for a customer only with that customer's own bearer token (the one
on their chat request or their confirmation), never an admin or service token: what it
may do is exactly what the customer may do, checked by the service that owns the data.
A transport failure or a timeout is `ShopUnavailable`, never a crash of the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import httpx

Service = Literal["catalog", "orders"]


class ShopUnavailable(Exception):
    """The service could not be reached, or did not answer in time."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    """The parsed JSON body (None when there is none)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self) -> str:
        """What a refusal says, in the service's words: its detail and each error's."""
        if not isinstance(self.body, dict):
            return f"HTTP {self.status}"
        said = [str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")]
        for error in self.body.get("errors") or []:
            message = error.get("msg") if isinstance(error, dict) else None
            if message and message not in said[0]:
                said.append(str(message))
        return "; ".join(said)


class ShopApi:
    def __init__(
        self,
        catalog_url: str,
        orders_url: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clients = {
            "catalog": httpx.AsyncClient(
                base_url=catalog_url, timeout=timeout_s, transport=transport
            ),
            "orders": httpx.AsyncClient(
                base_url=orders_url, timeout=timeout_s, transport=transport
            ),
        }

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            response = await self._clients[service].request(
                method, path, json=json, params=params, headers=sent
            )
        except httpx.TimeoutException as exc:
            raise ShopUnavailable(f"the {service} service did not answer in time") from exc
        except httpx.TransportError as exc:
            raise ShopUnavailable(f"the {service} service cannot be reached") from exc
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body)

    # ------------------------------------------------------------------- the catalog

    async def quote(self, product_id: UUID, options: list[UUID], quantity: int) -> Answer:
        """Public: no token is sent."""
        body = {"options": [str(o) for o in options], "quantity": quantity}
        return await self.call("catalog", "POST", f"/api/v1/products/{product_id}/quote", json=body)

    # ---------------------------------------------------------------------- the cart

    async def cart(self, token: str) -> Answer:
        return await self.call("orders", "GET", "/api/v1/cart", token=token)

    async def add_line(
        self, token: str, product_id: UUID, quantity: int, options: list[UUID]
    ) -> Answer:
        body = {
            "product_id": str(product_id),
            "quantity": quantity,
            "options": [str(o) for o in options],
        }
        return await self.call("orders", "POST", "/api/v1/cart/lines", token=token, json=body)

    async def set_quantity(self, token: str, line_id: UUID, quantity: int) -> Answer:
        path = f"/api/v1/cart/lines/{line_id}"
        return await self.call("orders", "PATCH", path, token=token, json={"quantity": quantity})

    async def remove_line(self, token: str, line_id: UUID) -> Answer:
        return await self.call("orders", "DELETE", f"/api/v1/cart/lines/{line_id}", token=token)

    async def checkout(
        self, token: str, address: dict[str, Any], expected_total: Decimal, key: str
    ) -> Answer:
        body = {"address": address, "expected_total": str(expected_total)}
        return await self.call(
            "orders",
            "POST",
            "/api/v1/cart/checkout",
            token=token,
            json=body,
            headers={"Idempotency-Key": key},
        )

    # -------------------------------------------------------------------- the orders

    async def order(self, token: str, order_id: UUID) -> Answer:
        return await self.call("orders", "GET", f"/api/v1/orders/{order_id}", token=token)

    async def orders(self, token: str, limit: int) -> Answer:
        return await self.call(
            "orders", "GET", "/api/v1/orders", token=token, params={"limit": limit}
        )
