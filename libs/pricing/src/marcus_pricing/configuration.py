"""Configurable products: parts, options and rules; checking and pricing a selection.

Pure logic, no I/O, shared by the catalog (its quote, its stock saga and the admin
commands that keep preconfigured products valid) and the orders service (its cart checks
and prices lines from its read model of the catalog's events). Being one function in
one place, a violation reads the same words wherever it is found.

Rules, as the customer meets them:

- a selection names options of THIS product, each once, at most one per part;
- every required part has an option chosen;
- no two chosen options form an incompatible pair (pairs are symmetric);
- every chosen option has stock for the quantity asked (the quote; the saga sums what
  all lines of an order ask of an option before it compares);
- price: the product's base price plus, for each chosen option, its own price, or the
  price of a price rule "A costs X when B is also chosen" whose B is chosen. When several
  rules match one option, the LOWEST price wins; between equal prices, the rule created
  first (smallest id: ids are time-ordered UUIDv7). Selection order never matters.

The errors are the project's domain errors (marcus_eventstore): InvalidConfiguration is a
422 and an unknown part or option a 404 in every service without further mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Literal
from uuid import UUID

from marcus_eventstore.aggregate import DomainError, NotFound


@dataclass(frozen=True)
class Option:
    id: UUID
    part_id: UUID
    name: str
    price: Decimal
    stock: int
    description: str = ""


@dataclass(frozen=True)
class Part:
    id: UUID
    name: str
    required: bool
    options: tuple[Option, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Incompatibility:
    id: UUID
    first: UUID
    second: UUID
    message: str

    def pair(self) -> frozenset[UUID]:
        return frozenset((self.first, self.second))


@dataclass(frozen=True)
class PriceRule:
    id: UUID
    option_id: UUID
    when_option_id: UUID
    price: Decimal


@dataclass(frozen=True)
class Configuration:
    """Everything that makes a product configurable, as one immutable value: an edit
    builds a new one (the catalog's `with_*` / `without_*` functions)."""

    parts: tuple[Part, ...] = ()
    incompatibilities: tuple[Incompatibility, ...] = ()
    price_rules: tuple[PriceRule, ...] = ()

    @cached_property
    def options(self) -> dict[UUID, Option]:
        return {option.id: option for part in self.parts for option in part.options}

    @cached_property
    def part_by_id(self) -> dict[UUID, Part]:
        return {part.id: part for part in self.parts}

    def part(self, part_id: UUID) -> Part:
        try:
            return self.part_by_id[part_id]
        except KeyError:
            raise NotFound(f"part {part_id} is not a part of this product") from None

    def option(self, option_id: UUID) -> Option:
        try:
            return self.options[option_id]
        except KeyError:
            raise NotFound(f"option {option_id} is not an option of this product") from None


# ------------------------------------------------------------------------- checking

ViolationKind = Literal[
    "unknown_option",
    "duplicate_option",
    "one_per_part",
    "required_part",
    "incompatible",
    "out_of_stock",
]


@dataclass(frozen=True)
class Violation:
    """One rule a selection breaks; `message` is meant for the customer."""

    kind: ViolationKind
    message: str
    option_ids: tuple[UUID, ...] = ()
    part_id: UUID | None = None
    rule_id: UUID | None = None
    requested: int = 0
    available: int = 0


def check(
    configuration: Configuration,
    selection: Sequence[UUID],
    *,
    quantity: int = 1,
    stock: bool = True,
) -> list[Violation]:
    """Every rule `selection` breaks (empty: it is a valid configuration). `stock`:
    also require `quantity` units of each chosen option."""
    violations: list[Violation] = []
    seen: set[UUID] = set()
    chosen: list[Option] = []
    for option_id in selection:
        if option_id in seen:
            violations.append(
                Violation("duplicate_option", "an option was chosen twice", (option_id,))
            )
            continue
        seen.add(option_id)
        option = configuration.options.get(option_id)
        if option is None:
            violations.append(
                Violation(
                    "unknown_option",
                    f"option {option_id} is not offered for this product (it may have been"
                    " removed)",
                    (option_id,),
                )
            )
        else:
            chosen.append(option)
    for part in configuration.parts:
        in_part = [option for option in chosen if option.part_id == part.id]
        if len(in_part) > 1:
            names = ", ".join(option.name for option in in_part)
            violations.append(
                Violation(
                    "one_per_part",
                    f"choose one {part.name}, not several ({names})",
                    tuple(option.id for option in in_part),
                    part_id=part.id,
                )
            )
        elif not in_part and part.required:
            violations.append(
                Violation("required_part", f"{part.name} is required", part_id=part.id)
            )
    chosen_ids = {option.id for option in chosen}
    for rule in configuration.incompatibilities:
        if rule.first in chosen_ids and rule.second in chosen_ids:
            violations.append(
                Violation("incompatible", rule.message, (rule.first, rule.second), rule_id=rule.id)
            )
    if stock:
        for option in chosen:
            if option.stock < quantity:
                violations.append(
                    Violation(
                        "out_of_stock",
                        out_of_stock_message(option.name, quantity, option.stock),
                        (option.id,),
                        part_id=option.part_id,
                        requested=quantity,
                        available=option.stock,
                    )
                )
    return violations


def out_of_stock_message(name: str, requested: int, available: int) -> str:
    if available == 0:
        return f"{name} is out of stock"
    return f"only {available} of {name} left ({requested} asked for)"


class InvalidConfiguration(DomainError):
    """A selection that breaks rules; `violations` lists every one (HTTP 422)."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("; ".join(v.message for v in violations))
        self.violations = list(violations)


# -------------------------------------------------------------------------- pricing


@dataclass(frozen=True)
class PricedOption:
    option: Option
    part: Part
    price: Decimal
    rule: PriceRule | None = None
    """The price rule that set `price`; None: the option's own price."""


@dataclass(frozen=True)
class Priced:
    base_price: Decimal
    options: tuple[PricedOption, ...]

    @property
    def unit_price(self) -> Decimal:
        return self.base_price + sum((o.price for o in self.options), Decimal("0"))


def winning_rule(
    configuration: Configuration, option_id: UUID, chosen: Iterable[UUID]
) -> PriceRule | None:
    """The price rule that prices `option_id` in this selection: lowest price wins,
    then the earliest rule (smallest id)."""
    chosen_ids = set(chosen)
    matching = [
        rule
        for rule in configuration.price_rules
        if rule.option_id == option_id and rule.when_option_id in chosen_ids
    ]
    return min(matching, key=lambda rule: (rule.price, rule.id), default=None)


def price(configuration: Configuration, base_price: Decimal, selection: Sequence[UUID]) -> Priced:
    """The price breakdown of a selection `check` accepted (options in part order)."""
    chosen = set(selection)
    priced = []
    for part in configuration.parts:
        for option in part.options:
            if option.id in chosen:
                rule = winning_rule(configuration, option.id, chosen)
                amount = option.price if rule is None else rule.price
                priced.append(PricedOption(option, part, amount, rule))
    return Priced(base_price, tuple(priced))


def quote(
    configuration: Configuration,
    base_price: Decimal,
    selection: Sequence[UUID],
    *,
    quantity: int = 1,
    stock: bool = True,
) -> Priced:
    """Check and price, or raise InvalidConfiguration with every violation."""
    violations = check(configuration, selection, quantity=quantity, stock=stock)
    if violations:
        raise InvalidConfiguration(violations)
    return price(configuration, base_price, selection)


# ------------------------------------------------------------------- derived stock


def configurable_stock(configuration: Configuration) -> int:
    """How many configurations the options could still make, rules aside: the smallest
    total stock of a required part (without required parts: the largest part's total).
    An upper bound for listings' `in_stock`; the saga checks the real selection."""
    required = [part for part in configuration.parts if part.required]
    totals = [sum(o.stock for o in part.options) for part in required or configuration.parts]
    if not totals:
        return 0
    return min(totals) if required else max(totals)


def selection_stock(configuration: Configuration, selection: Iterable[UUID]) -> int:
    """Units of a fixed selection (a preconfigured product) the options allow."""
    stocks = [
        configuration.options[o].stock if o in configuration.options else 0 for o in selection
    ]
    return min(stocks, default=0)
