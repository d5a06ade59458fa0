"""Configurations and preconfigured selections: rows <-> domain values.

The projector writes them from product snapshots (replacing a product's rows as a
whole: a snapshot is the full truth); the repository (aggregates, under lock) and the
read queries (the API) load them with the same functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage.tables import incompatibilities, options, parts, preset_options, price_rules
from marcus_contracts.events import catalog as ev
from marcus_pricing import Configuration, Incompatibility, Option, Part, PriceRule

CONFIGURATION_TABLES = (parts, options, incompatibilities, price_rules)


async def load_configurations(
    session: AsyncSession, product_ids: Collection[UUID]
) -> dict[UUID, Configuration]:
    """The configuration of each of these (configurable) products."""
    ids = list(product_ids)
    if not ids:
        return {}
    part_rows = await session.execute(
        select(parts).where(parts.c.product_id.in_(ids)).order_by(parts.c.position)
    )
    option_rows = await session.execute(
        select(options).where(options.c.product_id.in_(ids)).order_by(options.c.position)
    )
    rule_rows = await session.execute(
        select(incompatibilities)
        .where(incompatibilities.c.product_id.in_(ids))
        .order_by(incompatibilities.c.id)
    )
    price_rows = await session.execute(
        select(price_rules).where(price_rules.c.product_id.in_(ids)).order_by(price_rules.c.id)
    )
    options_of: defaultdict[UUID, list[Option]] = defaultdict(list)
    for row in option_rows:
        options_of[row.part_id].append(
            Option(row.id, row.part_id, row.name, row.price, int(row.stock), row.description)
        )
    parts_of: defaultdict[UUID, list[Part]] = defaultdict(list)
    for row in part_rows:
        parts_of[row.product_id].append(
            Part(row.id, row.name, row.required, tuple(options_of[row.id]), row.description)
        )
    rules_of: defaultdict[UUID, list[Incompatibility]] = defaultdict(list)
    for row in rule_rows:
        rules_of[row.product_id].append(
            Incompatibility(row.id, row.first_option_id, row.second_option_id, row.message)
        )
    prices_of: defaultdict[UUID, list[PriceRule]] = defaultdict(list)
    for row in price_rows:
        prices_of[row.product_id].append(
            PriceRule(row.id, row.option_id, row.when_option_id, row.price)
        )
    return {
        product_id: Configuration(
            tuple(parts_of[product_id]), tuple(rules_of[product_id]), tuple(prices_of[product_id])
        )
        for product_id in ids
    }


async def load_selections(
    session: AsyncSession, preset_ids: Collection[UUID]
) -> dict[UUID, tuple[ev.SelectedOption, ...]]:
    """The options each of these preconfigured products includes."""
    ids = list(preset_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(preset_options)
        .where(preset_options.c.preset_id.in_(ids))
        .order_by(preset_options.c.preset_id, preset_options.c.position)
    )
    selections: defaultdict[UUID, list[ev.SelectedOption]] = defaultdict(list)
    for row in rows:
        selections[row.preset_id].append(
            ev.SelectedOption(
                option_id=row.option_id,
                part_id=row.part_id,
                part=row.part_name,
                name=row.option_name,
            )
        )
    return {preset_id: tuple(selections[preset_id]) for preset_id in ids}


async def delete_configuration(session: AsyncSession, product_id: UUID) -> None:
    for table in CONFIGURATION_TABLES:
        await session.execute(delete(table).where(table.c.product_id == product_id))


async def replace_configuration(session: AsyncSession, event: Any) -> None:
    """Write the configuration a v3 snapshot carries (replacing what was there)."""
    product_id = event.product_id
    await delete_configuration(session, product_id)
    part_values: list[dict[str, Any]] = []
    option_values: list[dict[str, Any]] = []
    for position, part in enumerate(event.parts):
        part_values.append(
            {
                "id": part.part_id,
                "product_id": product_id,
                "position": position,
                "name": part.name,
                "description": part.description,
                "required": part.required,
            }
        )
        option_values += [
            {
                "id": option.option_id,
                "product_id": product_id,
                "part_id": part.part_id,
                "position": index,
                "name": option.name,
                "description": option.description,
                "price": option.price,
                "stock": option.stock,
            }
            for index, option in enumerate(part.options)
        ]
    rule_values = [
        {
            "id": rule.rule_id,
            "product_id": product_id,
            "first_option_id": rule.option_ids[0],
            "second_option_id": rule.option_ids[1],
            "message": rule.message,
        }
        for rule in event.incompatibilities
    ]
    price_values = [
        {
            "id": rule.rule_id,
            "product_id": product_id,
            "option_id": rule.option_id,
            "when_option_id": rule.when_option_id,
            "price": rule.price,
        }
        for rule in event.price_rules
    ]
    for table, values in (
        (parts, part_values),
        (options, option_values),
        (incompatibilities, rule_values),
        (price_rules, price_values),
    ):
        if values:
            await session.execute(insert(table), values)


async def replace_selection(session: AsyncSession, event: Any) -> None:
    """Write the options a preconfigured product's v3 snapshot includes."""
    await delete_selection(session, event.product_id)
    values = [
        {
            "preset_id": event.product_id,
            "option_id": chosen.option_id,
            "position": position,
            "part_id": chosen.part_id,
            "part_name": chosen.part,
            "option_name": chosen.name,
        }
        for position, chosen in enumerate(event.selection)
    ]
    if values:
        await session.execute(insert(preset_options), values)


async def delete_selection(session: AsyncSession, preset_id: UUID) -> None:
    await session.execute(delete(preset_options).where(preset_options.c.preset_id == preset_id))
