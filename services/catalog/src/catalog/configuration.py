"""Configurable products: editing parts, options and rules (pure logic, no I/O).

Checking and pricing a selection is `marcus_pricing` (shared with the orders service's
cart, so both say the same words); its names are re-exported here, so the catalog keeps
one module for "configuration". Each edit below returns a new Configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from uuid import UUID

from marcus_contracts import new_event_id
from marcus_eventstore.aggregate import Conflict, DomainError, NotFound
from marcus_pricing.configuration import (
    Configuration,
    Incompatibility,
    InvalidConfiguration,
    Option,
    Part,
    Priced,
    PricedOption,
    PriceRule,
    Violation,
    ViolationKind,
    check,
    configurable_stock,
    out_of_stock_message,
    price,
    quote,
    selection_stock,
    winning_rule,
)

__all__ = [
    "Configuration",
    "Incompatibility",
    "InvalidConfiguration",
    "Option",
    "Part",
    "PriceRule",
    "Priced",
    "PricedOption",
    "Violation",
    "ViolationKind",
    "check",
    "configurable_stock",
    "out_of_stock_message",
    "price",
    "quote",
    "selection_stock",
    "winning_rule",
]

MAX_PARTS = 50
MAX_OPTIONS_PER_PART = 100
MAX_RULES = 1000


# -------------------------------------------------------------------------- editing
# Each edit returns a new Configuration (and the new item's id when it creates one), or
# raises DomainError (422: the edit itself is wrong), NotFound (404) or Conflict (409: a
# name or a rule that exists already).


def _unique_name(names: Iterable[str], name: str, what: str) -> None:
    if name.casefold() in {n.casefold() for n in names}:
        raise Conflict(f"{what} named {name!r} exists already")


def _placed(items: tuple[Part, ...], item: Part, position: int | None) -> tuple[Part, ...]:
    rest = list(items)
    rest.insert(len(rest) if position is None else max(0, min(position, len(rest))), item)
    return tuple(rest)


def with_part(
    configuration: Configuration,
    *,
    name: str,
    required: bool,
    description: str = "",
    position: int | None = None,
) -> tuple[Configuration, UUID]:
    if len(configuration.parts) >= MAX_PARTS:
        raise DomainError(f"a product has at most {MAX_PARTS} parts")
    _unique_name((p.name for p in configuration.parts), name, "a part")
    part = Part(new_event_id(), name, required, (), description)
    return replace(configuration, parts=_placed(configuration.parts, part, position)), part.id


def with_part_changed(
    configuration: Configuration,
    part_id: UUID,
    *,
    name: str | None = None,
    required: bool | None = None,
    description: str | None = None,
    position: int | None = None,
) -> Configuration:
    part = configuration.part(part_id)
    if name is not None and name.casefold() != part.name.casefold():
        _unique_name((p.name for p in configuration.parts if p.id != part_id), name, "a part")
    changed = replace(
        part,
        name=part.name if name is None else name,
        required=part.required if required is None else required,
        description=part.description if description is None else description,
    )
    others = tuple(p for p in configuration.parts if p.id != part_id)
    if position is None:
        parts = tuple(changed if p.id == part_id else p for p in configuration.parts)
    else:
        parts = _placed(others, changed, position)
    return replace(configuration, parts=parts)


def without_part(configuration: Configuration, part_id: UUID) -> Configuration:
    """Removes the part, its options, and every rule naming one of them."""
    part = configuration.part(part_id)
    gone = {option.id for option in part.options}
    parts = tuple(p for p in configuration.parts if p.id != part_id)
    return _without_rules_of(replace(configuration, parts=parts), gone)


def with_option(
    configuration: Configuration,
    part_id: UUID,
    *,
    name: str,
    price: Decimal,
    stock: int,
    description: str = "",
) -> tuple[Configuration, UUID]:
    part = configuration.part(part_id)
    if len(part.options) >= MAX_OPTIONS_PER_PART:
        raise DomainError(f"a part has at most {MAX_OPTIONS_PER_PART} options")
    _unique_name((o.name for o in part.options), name, f"an option of {part.name}")
    option = Option(new_event_id(), part_id, name, price, stock, description)
    return _with_part_options(configuration, part_id, (*part.options, option)), option.id


def with_option_changed(
    configuration: Configuration,
    option_id: UUID,
    *,
    name: str | None = None,
    price: Decimal | None = None,
    stock: int | None = None,
    description: str | None = None,
) -> Configuration:
    option = configuration.option(option_id)
    part = configuration.part(option.part_id)
    if name is not None and name.casefold() != option.name.casefold():
        _unique_name(
            (o.name for o in part.options if o.id != option_id), name, f"an option of {part.name}"
        )
    if stock is not None and stock < 0:
        raise DomainError("stock cannot be negative")
    changed = replace(
        option,
        name=option.name if name is None else name,
        price=option.price if price is None else price,
        stock=option.stock if stock is None else stock,
        description=option.description if description is None else description,
    )
    options = tuple(changed if o.id == option_id else o for o in part.options)
    return _with_part_options(configuration, part.id, options)


def without_option(configuration: Configuration, option_id: UUID) -> Configuration:
    """Removes the option and every rule naming it."""
    option = configuration.option(option_id)
    part = configuration.part(option.part_id)
    options = tuple(o for o in part.options if o.id != option_id)
    return _without_rules_of(_with_part_options(configuration, part.id, options), {option_id})


def _with_part_options(
    configuration: Configuration, part_id: UUID, options: tuple[Option, ...]
) -> Configuration:
    parts = tuple(
        replace(p, options=options) if p.id == part_id else p for p in configuration.parts
    )
    return replace(configuration, parts=parts)


def _without_rules_of(configuration: Configuration, gone: set[UUID]) -> Configuration:
    return replace(
        configuration,
        incompatibilities=tuple(r for r in configuration.incompatibilities if not r.pair() & gone),
        price_rules=tuple(
            r
            for r in configuration.price_rules
            if r.option_id not in gone and r.when_option_id not in gone
        ),
    )


def _two_options_of_different_parts(
    configuration: Configuration, first: UUID, second: UUID
) -> tuple[Option, Option]:
    missing = [o for o in (first, second) if o not in configuration.options]
    if missing:
        raise DomainError(
            "not options of this product: " + ", ".join(str(option) for option in missing)
        )
    if first == second:
        raise DomainError("a rule needs two different options")
    a, b = configuration.options[first], configuration.options[second]
    if a.part_id == b.part_id:
        raise DomainError(
            f"{a.name} and {b.name} are options of the same part: they are never chosen"
            " together, so this rule could never apply"
        )
    return a, b


def _rule_count(configuration: Configuration) -> int:
    return len(configuration.incompatibilities) + len(configuration.price_rules)


def with_incompatibility(
    configuration: Configuration, first: UUID, second: UUID, message: str
) -> tuple[Configuration, UUID]:
    _two_options_of_different_parts(configuration, first, second)
    if _rule_count(configuration) >= MAX_RULES:
        raise DomainError(f"a product has at most {MAX_RULES} rules")
    pair = frozenset((first, second))
    if any(rule.pair() == pair for rule in configuration.incompatibilities):
        raise Conflict("these two options are already incompatible")
    rule = Incompatibility(new_event_id(), first, second, message)
    return replace(configuration, incompatibilities=(*configuration.incompatibilities, rule)), (
        rule.id
    )


def with_incompatibility_changed(
    configuration: Configuration, rule_id: UUID, *, message: str
) -> Configuration:
    _find(configuration.incompatibilities, rule_id, "incompatibility rule")
    rules = tuple(
        replace(r, message=message) if r.id == rule_id else r
        for r in configuration.incompatibilities
    )
    return replace(configuration, incompatibilities=rules)


def without_incompatibility(configuration: Configuration, rule_id: UUID) -> Configuration:
    _find(configuration.incompatibilities, rule_id, "incompatibility rule")
    rules = tuple(r for r in configuration.incompatibilities if r.id != rule_id)
    return replace(configuration, incompatibilities=rules)


def with_price_rule(
    configuration: Configuration, option_id: UUID, when_option_id: UUID, price: Decimal
) -> tuple[Configuration, UUID]:
    _two_options_of_different_parts(configuration, option_id, when_option_id)
    if _rule_count(configuration) >= MAX_RULES:
        raise DomainError(f"a product has at most {MAX_RULES} rules")
    if any(
        r.option_id == option_id and r.when_option_id == when_option_id
        for r in configuration.price_rules
    ):
        raise Conflict("a price rule for this option and condition exists already")
    rule = PriceRule(new_event_id(), option_id, when_option_id, price)
    return replace(configuration, price_rules=(*configuration.price_rules, rule)), rule.id


def with_price_rule_changed(
    configuration: Configuration, rule_id: UUID, *, price: Decimal
) -> Configuration:
    _find(configuration.price_rules, rule_id, "price rule")
    rules = tuple(
        replace(r, price=price) if r.id == rule_id else r for r in configuration.price_rules
    )
    return replace(configuration, price_rules=rules)


def without_price_rule(configuration: Configuration, rule_id: UUID) -> Configuration:
    _find(configuration.price_rules, rule_id, "price rule")
    rules = tuple(r for r in configuration.price_rules if r.id != rule_id)
    return replace(configuration, price_rules=rules)


def _find(rules: Iterable[Incompatibility | PriceRule], rule_id: UUID, what: str) -> None:
    if not any(rule.id == rule_id for rule in rules):
        raise NotFound(f"{what} {rule_id} is not a rule of this product")
