"""Property-based tests (hypothesis) of checking and pricing configurations.

Random configurable products (parts, options, required flags, incompatibilities, price
rules, stock) and random selections (this product's options, strangers, duplicates, any
order) are checked against an ORACLE written here independently, rule by rule, in the
plainest way: a selection is accepted exactly when it satisfies every rule, every
reported violation is a real one, and an accepted selection is priced as the rules say.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import combinations, permutations
from uuid import UUID

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from catalog import configuration as cfg
from catalog.allocation import LineRequest, plan
from catalog.configuration import Configuration, Incompatibility, Option, Part, PriceRule
from catalog.domain import Product
from marcus_contracts.events.catalog import CategoryRef

STRANGERS = [UUID(int=9_000_000 + i) for i in range(3)]
CENTS = st.integers(min_value=0, max_value=99_999).map(lambda c: Decimal(c) / 100)


@st.composite
def configurations(draw: st.DrawFn) -> Configuration:
    parts = []
    for p in range(draw(st.integers(1, 5))):
        part_id = UUID(int=1_000 + p)
        options = tuple(
            Option(
                UUID(int=(p + 1) * 100 + o),
                part_id,
                f"o{p}.{o}",
                draw(CENTS),
                draw(st.integers(0, 6)),
            )
            for o in range(draw(st.integers(1, 4)))
        )
        parts.append(Part(part_id, f"part {p}", draw(st.booleans()), options))
    options_of = {o.id: o for part in parts for o in part.options}
    cross = [
        (a, b)
        for a, b in combinations(options_of, 2)
        if options_of[a].part_id != options_of[b].part_id
    ]
    pairs = draw(st.lists(st.sampled_from(cross), unique=True, max_size=6)) if cross else []
    incompatibilities = tuple(
        Incompatibility(
            UUID(int=50_000 + k), *(pair if draw(st.booleans()) else pair[::-1]), f"m{k}"
        )
        for k, pair in enumerate(pairs)
    )
    ordered = [pair for a, b in cross for pair in ((a, b), (b, a))]
    conditions = (
        draw(st.lists(st.sampled_from(ordered), unique=True, max_size=4)) if ordered else []
    )
    # Several rules for one option, so that two of them often match at once.
    target = draw(st.sampled_from(list(options_of)))
    whens = [o for o in options_of if options_of[o].part_id != options_of[target].part_id]
    if whens:
        extra = draw(st.lists(st.sampled_from(whens), unique=True, max_size=3))
        conditions += [(target, when) for when in extra if (target, when) not in conditions]
    price_rules = tuple(
        PriceRule(UUID(int=60_000 + k), option, when, draw(CENTS))
        for k, (option, when) in enumerate(conditions)
    )
    return Configuration(tuple(parts), incompatibilities, price_rules)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Configuration, list[UUID], int]:
    configuration = draw(configurations())
    own = list(configuration.options)
    mode = draw(st.sampled_from(["any", "one per part", "rule options"]))
    if mode == "any":  # repeats, several per part, gaps
        picked = draw(st.lists(st.sampled_from(own), max_size=len(own) + 1))
    elif mode == "rule options":  # the most-ruled option and its rules' conditions
        rules = configuration.price_rules
        ruled = max(own, key=lambda o: sum(r.option_id == o for r in rules))
        named = {ruled} | {r.when_option_id for r in rules if r.option_id == ruled}
        picked = [
            next((o.id for o in part.options if o.id in named), part.options[0].id)
            for part in configuration.parts
        ]
    else:  # one option per part, or none: accepted unless a rule or the stock says no
        picked = [
            option.id
            for part in configuration.parts
            if (option := draw(st.sampled_from((None, *part.options)))) is not None
        ]
    strangers = draw(st.lists(st.sampled_from(STRANGERS), max_size=1)) if mode == "any" else []
    selection = draw(st.permutations(picked + strangers))
    return configuration, selection, draw(st.sampled_from([1, 1, 1, 2, 3]))


# ------------------------------------------------------------------------------ oracle


def oracle_broken_rules(config: Configuration, selection: list[UUID], quantity: int) -> set[str]:
    """The rules a selection breaks, found by brute force over the definitions."""
    broken = set()
    options = {o.id: o for part in config.parts for o in part.options}
    if len(set(selection)) != len(selection):
        broken.add("duplicate_option")
    if any(o not in options for o in selection):
        broken.add("unknown_option")
    chosen = {o for o in selection if o in options}
    for part in config.parts:
        count = sum(1 for o in part.options if o.id in chosen)
        if count > 1:
            broken.add("one_per_part")
        if count == 0 and part.required:
            broken.add("required_part")
    for rule in config.incompatibilities:
        if rule.first in chosen and rule.second in chosen:
            broken.add("incompatible")
    if any(options[o].stock < quantity for o in chosen):
        broken.add("out_of_stock")
    return broken


def oracle_unit_price(config: Configuration, base: Decimal, selection: list[UUID]) -> Decimal:
    total = base
    for option_id in set(selection):
        option = config.options[option_id]
        prices = [
            (r.price, r.id)
            for r in config.price_rules
            if r.option_id == option_id and r.when_option_id in selection
        ]
        total += min(prices)[0] if prices else option.price
    return total


def violation_is_real(
    v: cfg.Violation, config: Configuration, selection: list[UUID], quantity: int
) -> bool:
    chosen = set(selection) & set(config.options)
    if v.kind == "duplicate_option":
        return selection.count(v.option_ids[0]) > 1
    if v.kind == "unknown_option":
        return v.option_ids[0] in selection and v.option_ids[0] not in config.options
    if v.kind == "one_per_part":
        part = config.part(v.part_id)  # type: ignore[arg-type]
        return len([o for o in part.options if o.id in chosen]) > 1
    if v.kind == "required_part":
        part = config.part(v.part_id)  # type: ignore[arg-type]
        return part.required and not any(o.id in chosen for o in part.options)
    if v.kind == "incompatible":
        [rule] = [r for r in config.incompatibilities if r.id == v.rule_id]
        return rule.first in chosen and rule.second in chosen and rule.message == v.message
    if v.kind == "out_of_stock":
        return config.options[v.option_ids[0]].stock < quantity
    return False


# -------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(cases())
def test_accepted_exactly_when_every_rule_holds(
    case: tuple[Configuration, list[UUID], int],
) -> None:
    config, selection, quantity = case
    violations = cfg.check(config, selection, quantity=quantity)
    broken = oracle_broken_rules(config, selection, quantity)

    assert (violations == []) == (broken == set())
    assert {v.kind for v in violations} == broken  # refused: every broken rule is named
    assert all(violation_is_real(v, config, selection, quantity) for v in violations)


@settings(max_examples=200, deadline=None)
@given(cases(), CENTS)
def test_an_accepted_selection_is_priced_by_the_rules_in_any_order(
    case: tuple[Configuration, list[UUID], int], base: Decimal
) -> None:
    config, selection, quantity = case
    try:
        priced = cfg.quote(config, base, selection, quantity=quantity)
    except cfg.InvalidConfiguration as refused:
        assert oracle_broken_rules(config, selection, quantity)
        assert refused.violations
        return
    assert not oracle_broken_rules(config, selection, quantity)
    assert priced.unit_price == oracle_unit_price(config, base, selection)
    for other in list(permutations(selection))[:6]:
        assert cfg.price(config, base, list(other)) == priced
    for option in priced.options:  # the winning rule is the cheapest matching one
        matching = [
            r
            for r in config.price_rules
            if r.option_id == option.option.id and r.when_option_id in selection
        ]
        expected = min(matching, key=lambda r: (r.price, r.id), default=None)
        assert option.rule == expected


@st.composite
def competing_rules(draw: st.DrawFn) -> tuple[Configuration, list[UUID]]:
    """A valid selection of one option per part in which one option is matched by
    several price rules at once (prices may tie)."""
    config = draw(configurations())
    assume(len(config.parts) >= 3)
    selection = [draw(st.sampled_from(part.options)).id for part in config.parts]
    target, *others = draw(st.permutations(selection))
    whens = draw(st.lists(st.sampled_from(others), min_size=2, max_size=len(others), unique=True))
    prices = st.sampled_from([Decimal("5.00"), Decimal("7.50"), Decimal("9.99")])
    rules = tuple(
        PriceRule(UUID(int=70_000 + draw(st.integers(0, 999))), target, when, draw(prices))
        for when in whens
    )
    assume(len({r.id for r in rules}) == len(rules))
    stocked = Configuration(
        tuple(
            replace(part, options=tuple(replace(o, stock=5) for o in part.options))
            for part in config.parts
        ),
        (),  # no incompatibilities: the selection is valid
        rules,
    )
    return stocked, draw(st.permutations(selection))


@settings(max_examples=150, deadline=None)
@given(competing_rules())
def test_when_several_price_rules_match_the_lowest_price_wins_then_the_oldest(
    case: tuple[Configuration, list[UUID]],
) -> None:
    config, selection = case
    priced = cfg.quote(config, Decimal("100.00"), selection)
    [target] = {r.option_id for r in config.price_rules}
    [option] = [o for o in priced.options if o.option.id == target]
    cheapest = min(r.price for r in config.price_rules)
    oldest_cheapest = min(r.id for r in config.price_rules if r.price == cheapest)
    assert (option.price, option.rule.id if option.rule else None) == (cheapest, oldest_cheapest)
    assert priced.unit_price == oracle_unit_price(config, Decimal("100.00"), selection)


def _configurable(config: Configuration) -> Product:
    product = Product(
        id=UUID(int=1),
        version=1,
        sku="P",
        name="P",
        price=Decimal("10.00"),
        category=CategoryRef(id=UUID(int=2), slug="c", name="c"),
        kind="configurable",
        configuration=config,
        stock=cfg.configurable_stock(config),
    )
    return product


@settings(max_examples=150, deadline=None)
@given(configurations(), st.data())
def test_an_order_is_allocated_only_when_every_line_is_valid_and_stock_covers_all_lines(
    config: Configuration, data: st.DataObject
) -> None:
    """Several lines of one product may share options: stock is compared with what
    they ask together, and a plan never takes more than there is."""
    product = _configurable(config)
    own = list(config.options)
    lines = data.draw(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from(own), unique=True, max_size=len(own)), st.integers(1, 3)
            ),
            min_size=1,
            max_size=3,
        )
    )
    requests = [LineRequest(product.id, quantity, tuple(options)) for options, quantity in lines]

    decision = plan(requests, {product.id: product}, "EUR")

    structurally_valid = all(
        not (oracle_broken_rules(config, list(r.options), 1) - {"out_of_stock"}) for r in requests
    )
    demand: dict[UUID, int] = {}
    for r in requests:
        for option in r.options:
            demand[option] = demand.get(option, 0) + r.quantity
    covered = all(config.options[o].stock >= units for o, units in demand.items())
    assert (not decision.refusals) == (structurally_valid and covered)
    if not decision.refusals:
        assert decision.options.get(product.id, {}) == {o: u for o, u in demand.items()}
        assert [line.line for line in decision.lines] == list(range(len(requests)))
        assert decision.total == sum(
            (
                oracle_unit_price(config, product.price, list(r.options)) * r.quantity
                for r in requests
            ),
            Decimal("0"),
        )
        if demand:
            product.reserve_options(UUID(int=3), demand)
        assert all(o.stock >= 0 for o in product.configuration.options.values())
    else:
        assert decision.lines == [] and decision.total == 0
