"""Configurable products: parts, options and rules; checking and pricing a selection.

Pure logic, no I/O. The quote endpoint, the stock saga (which prices every order line)
and the admin commands (which keep preconfigured products valid) all call `check` and
`price` here: it is the only place a configuration is validated or priced.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from typing import Literal
from uuid import UUID

from marcus_contracts import new_event_id
from marcus_eventstore.aggregate import Conflict, DomainError, NotFound

MAX_PARTS = 50
MAX_OPTIONS_PER_PART = 100
MAX_RULES = 1000


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
    builds a new one (see the `with_*` / `without_*` functions below)."""

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
