"""Configurable products in the domain (pure): edits, derived stock, preconfigured
products following their base product, option stock moves, and the saga's decision on a
whole order (`allocation.plan`)."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from catalog import configuration as cfg
from catalog.allocation import LineRequest, plan
from marcus_contracts.events import catalog as ev
from marcus_eventstore import Conflict, DomainError
from services.catalog.tests.builders import a_bike, a_preset

ORDER = UUID(int=77)


def test_configurable_stock_is_the_scarcest_required_part_total() -> None:
    bike, ids = a_bike(stock=5)
    assert bike.stock == 10  # Frame: 5 + 5, Wheels: 5 + 5; the optional Bell does not count
    config = cfg.with_option_changed(bike.configuration, ids["Road"], stock=0)
    config = cfg.with_option_changed(config, ids["Mountain"], stock=2)
    assert cfg.configurable_stock(config) == 2
    assert cfg.configurable_stock(cfg.Configuration()) == 0


def test_removing_an_option_removes_the_rules_that_name_it() -> None:
    bike, ids = a_bike()
    config = cfg.without_option(bike.configuration, ids["Mountain"])
    assert config.incompatibilities == () and config.price_rules == ()
    config = cfg.without_part(bike.configuration, bike.configuration.parts[0].id)
    assert ids["Diamond"] not in config.options and config.incompatibilities == ()


def test_parts_keep_their_order_and_can_move() -> None:
    bike, _ = a_bike()
    wheels = bike.configuration.parts[1].id
    moved = cfg.with_part_changed(bike.configuration, wheels, position=0)
    assert [p.name for p in moved.parts] == ["Wheels", "Frame", "Bell"]
    config, _ = cfg.with_part(moved, name="Chain", required=True, position=1)
    assert [p.name for p in config.parts] == ["Wheels", "Chain", "Frame", "Bell"]
    with pytest.raises(Conflict):
        cfg.with_part(config, name="chain", required=False)


def test_a_preconfigured_product_is_checked_against_its_base() -> None:
    bike, ids = a_bike()
    with pytest.raises(cfg.InvalidConfiguration) as refused:
        a_preset(bike, ids["Diamond"], ids["Mountain"])
    assert [v.kind for v in refused.value.violations] == ["incompatible"]
    with pytest.raises(cfg.InvalidConfiguration):
        a_preset(bike, ids["Full"])  # wheels missing
    with pytest.raises(cfg.InvalidConfiguration):
        a_preset(bike)  # nothing at all
    trail = a_preset(bike, ids["Mountain"], ids["Full"])
    assert [s.name for s in trail.selection] == ["Full", "Mountain"]  # in part order
    assert trail.stock == 5


def test_base_changes_that_break_a_preconfigured_product_are_refused() -> None:
    bike, ids = a_bike()
    trail = a_preset(bike, ids["Full"], ids["Mountain"])
    for broken in (
        cfg.without_option(bike.configuration, ids["Full"]),
        cfg.with_incompatibility(bike.configuration, ids["Full"], ids["Mountain"], "no")[0],
        cfg.with_part_changed(bike.configuration, bike.configuration.parts[2].id, required=True),
    ):
        with pytest.raises(Conflict, match="TRAIL"):
            bike.reconfigure(broken, [trail])
    assert bike.pending == []


def test_a_preconfigured_product_follows_names_and_stock_of_its_base() -> None:
    bike, ids = a_bike()
    trail = a_preset(bike, ids["Full"], ids["Mountain"])
    bike.reserve_options(ORDER, {ids["Mountain"]: 3})
    trail.follow(bike)
    [adjusted] = trail.pending
    assert isinstance(adjusted, ev.StockAdjusted)
    assert (adjusted.delta, adjusted.stock, trail.stock) == (-3, 2, 2)

    renamed = cfg.with_option_changed(bike.configuration, ids["Mountain"], name="Mountain 29")
    bike.reconfigure(renamed, [trail])
    trail.follow(bike)
    snapshot = trail.pending[-1]
    assert isinstance(snapshot, ev.ProductUpdated)
    assert [s.name for s in snapshot.selection] == ["Full", "Mountain 29"]
    trail.follow(bike)  # nothing changed since: nothing recorded
    assert len(trail.pending) == 2


def test_option_stock_never_goes_below_zero() -> None:
    bike, ids = a_bike(stock=2)
    with pytest.raises(DomainError, match="only 2 of Road"):
        bike.reserve_options(ORDER, {ids["Road"]: 3})
    bike.reserve_options(ORDER, {ids["Road"]: 2, ids["Full"]: 1})
    [event] = bike.pending
    assert isinstance(event, ev.OptionStockReserved)
    stocks = {s.option_id: s.stock for s in event.stocks}
    assert (stocks[ids["Road"]], stocks[ids["Full"]], stocks[ids["Bell"]]) == (0, 1, 2)
    assert len(event.stocks) == 5  # every option, so consumers keep one high-water mark
    assert event.stock == bike.stock == 2  # Wheels: 0 + 2


def test_releasing_skips_options_deleted_since() -> None:
    bike, ids = a_bike()
    bike.reserve_options(ORDER, {ids["Road"]: 2, ids["Bell"]: 2})
    bike.reconfigure(cfg.without_option(bike.configuration, ids["Bell"]))
    gone = bike.release_options(ORDER, {ids["Road"]: 2, ids["Bell"]: 2})
    assert gone == [ids["Bell"]]
    released = bike.pending[-1]
    assert isinstance(released, ev.OptionStockReleased)
    assert [(o.option_id, o.quantity) for o in released.options] == [(ids["Road"], 2)]
    assert bike.configuration.options[ids["Road"]].stock == 5


def test_an_order_is_priced_line_by_line_and_stock_is_summed_over_its_lines() -> None:
    bike, ids = a_bike(stock=3)
    trail = a_preset(bike, ids["Full"], ids["Mountain"])
    products = {bike.id: bike, trail.id: trail}
    configured = LineRequest(bike.id, 2, (ids["Mountain"], ids["Full"], ids["Bell"]))

    accepted = plan([configured, LineRequest(trail.id, 1)], products, "EUR")
    assert accepted.refusals == []
    first, second = accepted.lines
    assert first.unit_price == Decimal("626.00")  # 400 + 130 + 95 + 1 (Bell's rule)
    assert [o.price_rule_id is not None for o in first.options] == [False, False, True]
    assert (second.unit_price, second.kind, {o.price for o in second.options}) == (
        Decimal("599.00"),
        "preconfigured",
        {None},
    )
    assert accepted.total == Decimal("1851.00")
    assert accepted.options == {bike.id: {ids["Mountain"]: 3, ids["Full"]: 3, ids["Bell"]: 2}}

    # One more unit anywhere and Mountain (3 in stock) is short: named by the product
    # that holds it, since two lines ask for it.
    refused = plan([configured, LineRequest(trail.id, 2)], products, "EUR")
    assert refused.lines == []
    shortages = {(r.option_id, r.requested, r.available, r.line) for r in refused.refusals}
    assert shortages == {(ids["Mountain"], 4, 3, None), (ids["Full"], 4, 3, None)}
    assert {r.product_id for r in refused.refusals} == {bike.id}


def test_a_pending_order_naming_a_deleted_option_is_refused() -> None:
    bike, ids = a_bike()
    line = LineRequest(bike.id, 1, (ids["Full"], ids["Mountain"], ids["Bell"]))
    bike.reconfigure(cfg.without_option(bike.configuration, ids["Bell"]))

    decision = plan([line], {bike.id: bike}, "EUR")

    [refusal] = decision.refusals
    assert (refusal.reason, refusal.option_id, refusal.line) == (
        "invalid_configuration",
        ids["Bell"],
        0,
    )
    assert "not offered" in refusal.message


def test_lines_in_another_currency_or_of_unknown_products_are_refused() -> None:
    bike, ids = a_bike()
    unknown = UUID(int=404)
    decision = plan(
        [LineRequest(bike.id, 1, (ids["Full"], ids["Road"])), LineRequest(unknown, 1)],
        {bike.id: bike},
        "USD",
    )
    assert [(r.reason, r.line) for r in decision.refusals] == [
        ("currency_mismatch", 0),
        ("unknown_product", 1),
    ]
