"""Reading posted forms: the few shapes the pages send, checked before the API sees them."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData


async def form_of(request: Request) -> FormData:
    return await request.form()


def text(form: FormData, name: str, max_length: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def quantity(form: FormData, name: str = "quantity", default: int = 1) -> int | None:
    """A quantity from 1 to 99; None when it is not one (the page says so)."""
    raw = text(form, name, 10) or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= 99:
        return None
    return int(raw)


def option_ids(form: FormData) -> list[str]:
    """Chosen options: `options` fields (a product page) or one radio group per part
    (`part-<id>`, the configurator)."""
    chosen = [v for v in form.getlist("options") if isinstance(v, str) and v]
    for key, value in form.multi_items():
        if key.startswith("part-") and isinstance(value, str) and value:
            chosen.append(value)
    return chosen
