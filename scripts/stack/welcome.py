"""What `make up` prints once the stack is up: URLs, tokens and requests to try."""

from __future__ import annotations

from scripts.stack.config import HOST
from scripts.stack.gateway import GATEWAY_PORT
from scripts.stack.procfile import Process, services


def print_welcome(processes: list[Process], gateway: bool, pid: int) -> None:
    """URLs, a token command and example requests."""
    api = f"http://{HOST}:{GATEWAY_PORT}" if gateway else services(processes)[0].base_url
    print(f"\nMarcus is up (supervisord pid {pid}; a process that exits is restarted).\n")
    if gateway:
        print(f"  {'shop':<10} http://{HOST}:{GATEWAY_PORT}/   (the storefront; make seed first)")
        print(f"  {'gateway':<10} http://{HOST}:{GATEWAY_PORT}/api/v1   (nginx)")
    else:
        print("  gateway    skipped: nginx is not on PATH; each service answers on its own port")
    for p in processes:
        if p.port is None:
            continue
        api_service = p.package and p.package != "storefront"  # the storefront serves pages
        extra = f"   docs {p.base_url}/docs" if api_service else ""
        path = "/api/v1" if api_service else "/" if p.package else ""
        print(f"  {p.name:<10} {p.base_url}{path}{extra}")

    def url(name: str) -> str:
        """Through the gateway, or straight to the service that answers."""
        port = next((p.base_url for p in processes if p.name == name), api)
        return api if gateway else port

    shop, orders, assistant = url("catalog"), url("orders"), url("assistant")
    first_id = 'python3 -c \'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])\''
    session_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])'"
    print(
        f"""
Tokens (HS256, JWT_SECRET): an admin, and a customer (`sub` = alice)
  export TOKEN=$(make -s token)
  export CUSTOMER=$(make -s token SUB=alice ROLE=customer)

Try (after `make seed`, which loads the sample catalog of 200+ products):
  # search the catalog by meaning (public)
  curl -s '{assistant}/api/v1/search?q=espresso+machine+for+home&k=3'

  # chat: start a session, then post a message (the reply cites products by id;
  # add -H 'Accept: text/event-stream' to stream it as Server-Sent Events)
  SESSION=$(curl -s -X POST {assistant}/api/v1/chat/sessions \\
       -H "Authorization: Bearer $CUSTOMER" | {session_id})
  curl -s -X POST {assistant}/api/v1/chat/sessions/$SESSION/messages \\
       -H "Authorization: Bearer $CUSTOMER" -H 'Content-Type: application/json' \\
       -d '{{"content": "Which espresso machine would you recommend?"}}'

  # order a product in stock as the customer (the catalog reserves it, then it is confirmed)
  PRODUCT=$(curl -s '{shop}/api/v1/products?limit=1&in_stock=true' | {first_id})
  curl -s -X POST {orders}/api/v1/orders -H "Authorization: Bearer $CUSTOMER" \\
       -H 'Content-Type: application/json' -H "Idempotency-Key: $(date +%s%N)" \\
       -d '{{"email": "alice@example.com", "lines": [{{"product_id": "'$PRODUCT'", "quantity": 1}}]}}'
  curl -s {orders}/api/v1/orders -H "Authorization: Bearer $CUSTOMER"

Logs: make logs     Status: make status     Stop: make down"""
    )
