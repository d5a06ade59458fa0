"""HTTP routes of configurable products: parts, options, rules (admin), and the quote
(public): `POST /products/{id}/quote`, the only way a configuration is priced.

Every write is one `handlers.edit_configuration` with an edit of `catalog.configuration`;
it answers with the item it created or changed and the product's new version as ETag.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import configuration as cfg
from catalog import handlers, quotes
from catalog.allocation import priced_option
from catalog.api.routes import IfMatch, UoW, etag, expected_version
from catalog.api.schemas import (
    IncompatibilityIn,
    IncompatibilityOut,
    IncompatibilityPatch,
    OptionIn,
    OptionOut,
    OptionPatch,
    PartIn,
    PartOut,
    PartPatch,
    PriceRuleIn,
    PriceRuleOut,
    PriceRulePatch,
    QuotedOptionOut,
    QuotedRuleOut,
    QuoteIn,
    QuoteOut,
    part_out,
)
from catalog.storage import queries
from catalog.storage.configurations import load_configurations
from marcus_web.auth import Admin
from marcus_web.dependencies import ReadSession
from marcus_web.problems import Problem, problem_response

router = APIRouter(prefix="/api/v1", tags=["configurable products"])


async def _configuration(
    session: AsyncSession, product_id: UUID, response: Response
) -> cfg.Configuration:
    """The product's configuration as committed, its version as ETag."""
    row = await queries.get_product(session, product_id)
    if row is None:
        raise Problem(404, "Not Found", f"product {product_id} does not exist")
    response.headers["ETag"] = etag(row.version)
    return (await load_configurations(session, [product_id]))[product_id]


async def _edit(
    uow: UoW, product_id: UUID, edit: handlers.Edit, if_match: str | None
) -> UUID | None:
    return await handlers.edit_configuration(
        handlers.EditConfiguration(product_id, edit, expected_version(if_match)), uow
    )


def _created(response: Response, path: str) -> None:
    response.status_code = status.HTTP_201_CREATED
    response.headers["Location"] = f"/api/v1{path}"


async def _part(session: AsyncSession, product_id: UUID, part_id: UUID, r: Response) -> PartOut:
    configuration = await _configuration(session, product_id, r)
    position = next(i for i, p in enumerate(configuration.parts) if p.id == part_id)
    return part_out(configuration, position)


async def _option(
    session: AsyncSession, product_id: UUID, option_id: UUID, r: Response
) -> OptionOut:
    configuration = await _configuration(session, product_id, r)
    part = configuration.part(configuration.option(option_id).part_id)
    position = configuration.parts.index(part)
    return next(o for o in part_out(configuration, position).options if o.id == option_id)


# --- parts --------------------------------------------------------------------------------


@router.post("/products/{product_id}/parts", status_code=201, response_model=PartOut)
async def add_part(
    product_id: UUID,
    body: PartIn,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> PartOut:
    edit = partial(
        cfg.with_part,
        name=body.name,
        required=body.required,
        description=body.description,
        position=body.position,
    )
    part_id = await _edit(uow, product_id, edit, if_match)
    assert part_id is not None
    _created(response, f"/products/{product_id}/parts/{part_id}")
    return await _part(session, product_id, part_id, response)


@router.patch("/products/{product_id}/parts/{part_id}", response_model=PartOut)
async def change_part(
    product_id: UUID,
    part_id: UUID,
    body: PartPatch,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> PartOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    await _edit(
        uow, product_id, partial(cfg.with_part_changed, part_id=part_id, **changes), if_match
    )
    return await _part(session, product_id, part_id, response)


@router.delete("/products/{product_id}/parts/{part_id}", status_code=204)
async def remove_part(
    product_id: UUID, part_id: UUID, _: Admin, uow: UoW, if_match: IfMatch = None
) -> None:
    """Removes the part, its options and the rules naming them (409 if a preconfigured
    product includes one of its options)."""
    await _edit(uow, product_id, partial(cfg.without_part, part_id=part_id), if_match)


# --- options ------------------------------------------------------------------------------


@router.post(
    "/products/{product_id}/parts/{part_id}/options", status_code=201, response_model=OptionOut
)
async def add_option(
    product_id: UUID,
    part_id: UUID,
    body: OptionIn,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> OptionOut:
    edit = partial(
        cfg.with_option,
        part_id=part_id,
        name=body.name,
        price=body.price,
        stock=body.stock,
        description=body.description,
    )
    option_id = await _edit(uow, product_id, edit, if_match)
    assert option_id is not None
    _created(response, f"/products/{product_id}/options/{option_id}")
    return await _option(session, product_id, option_id, response)


@router.patch("/products/{product_id}/options/{option_id}", response_model=OptionOut)
async def change_option(
    product_id: UUID,
    option_id: UUID,
    body: OptionPatch,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> OptionOut:
    """Name, description, price or stock of an option."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    edit = partial(cfg.with_option_changed, option_id=option_id, **changes)
    await _edit(uow, product_id, edit, if_match)
    return await _option(session, product_id, option_id, response)


@router.delete("/products/{product_id}/options/{option_id}", status_code=204)
async def remove_option(
    product_id: UUID, option_id: UUID, _: Admin, uow: UoW, if_match: IfMatch = None
) -> None:
    """Removes the option and the rules naming it (409 if a preconfigured product
    includes it). Carts and pending orders naming it are refused when checked."""
    await _edit(uow, product_id, partial(cfg.without_option, option_id=option_id), if_match)


# --- rules --------------------------------------------------------------------------------


@router.post(
    "/products/{product_id}/incompatibilities", status_code=201, response_model=IncompatibilityOut
)
async def add_incompatibility(
    product_id: UUID,
    body: IncompatibilityIn,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> IncompatibilityOut:
    """Two options that cannot be chosen together (either order), and the message."""
    first, second = body.option_ids
    edit = partial(cfg.with_incompatibility, first=first, second=second, message=body.message)
    rule_id = await _edit(uow, product_id, edit, if_match)
    _created(response, f"/products/{product_id}/incompatibilities/{rule_id}")
    return await _incompatibility(session, product_id, rule_id, response)


async def _incompatibility(
    session: AsyncSession, product_id: UUID, rule_id: UUID | None, r: Response
) -> IncompatibilityOut:
    configuration = await _configuration(session, product_id, r)
    rule = next(x for x in configuration.incompatibilities if x.id == rule_id)
    return IncompatibilityOut(
        id=rule.id, option_ids=[rule.first, rule.second], message=rule.message
    )


@router.patch(
    "/products/{product_id}/incompatibilities/{rule_id}", response_model=IncompatibilityOut
)
async def change_incompatibility(
    product_id: UUID,
    rule_id: UUID,
    body: IncompatibilityPatch,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> IncompatibilityOut:
    edit = partial(cfg.with_incompatibility_changed, rule_id=rule_id, message=body.message)
    await _edit(uow, product_id, edit, if_match)
    return await _incompatibility(session, product_id, rule_id, response)


@router.delete("/products/{product_id}/incompatibilities/{rule_id}", status_code=204)
async def remove_incompatibility(
    product_id: UUID, rule_id: UUID, _: Admin, uow: UoW, if_match: IfMatch = None
) -> None:
    edit = partial(cfg.without_incompatibility, rule_id=rule_id)
    await _edit(uow, product_id, edit, if_match)


@router.post("/products/{product_id}/price-rules", status_code=201, response_model=PriceRuleOut)
async def add_price_rule(
    product_id: UUID,
    body: PriceRuleIn,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> PriceRuleOut:
    """`option_id` costs `price` (instead of its own) when `when_option_id` is chosen
    too. Several matching rules: the lowest price wins (then the oldest rule)."""
    edit = partial(
        cfg.with_price_rule,
        option_id=body.option_id,
        when_option_id=body.when_option_id,
        price=body.price,
    )
    rule_id = await _edit(uow, product_id, edit, if_match)
    _created(response, f"/products/{product_id}/price-rules/{rule_id}")
    return await _price_rule(session, product_id, rule_id, response)


async def _price_rule(
    session: AsyncSession, product_id: UUID, rule_id: UUID | None, r: Response
) -> PriceRuleOut:
    configuration = await _configuration(session, product_id, r)
    rule = next(x for x in configuration.price_rules if x.id == rule_id)
    return PriceRuleOut(
        id=rule.id, option_id=rule.option_id, when_option_id=rule.when_option_id, price=rule.price
    )


@router.patch("/products/{product_id}/price-rules/{rule_id}", response_model=PriceRuleOut)
async def change_price_rule(
    product_id: UUID,
    rule_id: UUID,
    body: PriceRulePatch,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> PriceRuleOut:
    edit = partial(cfg.with_price_rule_changed, rule_id=rule_id, price=body.price)
    await _edit(uow, product_id, edit, if_match)
    return await _price_rule(session, product_id, rule_id, response)


@router.delete("/products/{product_id}/price-rules/{rule_id}", status_code=204)
async def remove_price_rule(
    product_id: UUID, rule_id: UUID, _: Admin, uow: UoW, if_match: IfMatch = None
) -> None:
    edit = partial(cfg.without_price_rule, rule_id=rule_id)
    await _edit(uow, product_id, edit, if_match)


# --- the quote ----------------------------------------------------------------------------


@router.post(
    "/products/{product_id}/quote",
    response_model=QuoteOut,
    summary="Check and price a selection of options (the only pricing there is)",
    responses={422: {"description": "Every rule the selection breaks, in `errors`"}},
)
async def quote(product_id: UUID, body: QuoteIn, session: ReadSession) -> QuoteOut:
    line = await quotes.quote(session, product_id, body.options, body.quantity)
    product, priced = line.product, line.priced
    names = line.base.configuration.options if line.base is not None else {}
    unit_price = priced.unit_price
    return QuoteOut(
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        currency=product.currency,
        quantity=body.quantity,
        base_price=priced.base_price,
        options=[
            QuotedOptionOut(
                **priced_option(o, line.included),
                price_rule=None
                if o.rule is None
                else QuotedRuleOut(
                    id=o.rule.id,
                    when_option_id=o.rule.when_option_id,
                    when_option=names[o.rule.when_option_id].name,
                    price=o.rule.price,
                ),
            )
            for o in priced.options
        ],
        unit_price=unit_price,
        total=unit_price * body.quantity,
    )


def violation_errors(violations: list[cfg.Violation]) -> list[dict[str, Any]]:
    """One field-level error per violation (loc: the selection)."""
    errors = []
    for v in violations:
        error: dict[str, Any] = {
            "loc": ["body", "options"],
            "msg": v.message,
            "type": v.kind,
            "option_ids": [str(o) for o in v.option_ids],
        }
        if v.part_id is not None:
            error["part_id"] = str(v.part_id)
        if v.rule_id is not None:
            error["rule_id"] = str(v.rule_id)
        if v.kind == "out_of_stock":
            error |= {"requested": v.requested, "available": v.available}
        errors.append(error)
    return errors


def install_configuration_errors(app: FastAPI) -> None:
    """A selection that breaks rules answers 422 with every violation in `errors`."""

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, cfg.InvalidConfiguration)
        return problem_response(
            request,
            422,
            "Unprocessable Content",
            "The selection breaks the product's rules; see `errors` for each.",
            errors=violation_errors(exc.violations),
        )

    app.add_exception_handler(cfg.InvalidConfiguration, on_invalid)
