"""The catalog's command handlers over in-memory fakes of the repository and unit of
work: what each command records, and that a refused command records nothing."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

import pytest

from catalog import configuration as cfg
from catalog import handlers
from catalog.allocation import LineRequest
from catalog.domain import PRECONFIGURED
from marcus_contracts.events import catalog as ev
from marcus_eventstore import Conflict, DomainError, NotFound, VersionMismatch
from services.catalog.tests.builders import a_bike, a_category, a_preset, a_product
from services.catalog.tests.fakes import FakeStore, FakeUnitOfWork

ORDER = UUID(int=77)


async def run(store: FakeStore, handler: Any, command: Any) -> Any:
    """`handler(command)` on a fresh unit of work of `store`."""
    return await handler(command, FakeUnitOfWork(store))


async def refused(store: FakeStore, handler: Any, command: Any, error: type[Exception]) -> str:
    """The command is refused with `error` and leaves the store as it was."""
    before = len(store.events)
    with pytest.raises(error) as refusal:
        await run(store, handler, command)
    assert len(store.events) == before
    return str(refusal.value)


# ------------------------------------------------------------------ categories


async def test_create_category_records_it_and_refuses_a_taken_slug() -> None:
    store = FakeStore()
    category_id = await run(store, handlers.create_category, handlers.CreateCategory("bikes", "B"))
    [created] = store.of_type(ev.CategoryCreated)
    assert (created.category_id, created.slug) == (category_id, "bikes")
    message = await refused(
        store, handlers.create_category, handlers.CreateCategory("bikes", "Again"), Conflict
    )
    assert message == "a category with this slug already exists"


async def test_update_category_renames_and_refuses_an_unknown_one() -> None:
    category = a_category()
    store = FakeStore(category)
    await run(
        store, handlers.update_category, handlers.UpdateCategory(category.id, {"name": "Cycles"})
    )
    assert store.categories[category.id].name == "Cycles"
    await refused(
        store,
        handlers.update_category,
        handlers.UpdateCategory(UUID(int=9), {"name": "x"}),
        NotFound,
    )


# ------------------------------------------------------------------ products


async def test_create_product_records_it_and_refuses_an_unknown_category() -> None:
    category = a_category()
    store = FakeStore(category)
    command = handlers.CreateProduct(
        sku="B-9", name="Bike", price=Decimal("9.90"), currency="EUR", category_id=category.id
    )
    product_id = await run(store, handlers.create_product, command)
    assert store.products[product_id].sku == "B-9"
    assert [e.sku for e in store.of_type(ev.ProductCreated)] == ["B-9"]
    await refused(store, handlers.create_product, command, Conflict)  # the sku is taken
    unknown = handlers.CreateProduct(
        sku="B-10", name="Bike", price=Decimal("1"), currency="EUR", category_id=UUID(int=9)
    )
    assert "does not exist" in await refused(store, handlers.create_product, unknown, DomainError)


async def test_a_preconfigured_product_needs_a_configurable_base() -> None:
    bike, ids = a_bike()
    plain = a_product()
    store = FakeStore(bike, plain, category := a_category("c", "C"))

    def preset_of(base: UUID) -> handlers.CreateProduct:
        return handlers.CreateProduct(
            sku="TRAIL", name="Trail", price=Decimal("599"), currency="EUR",
            category_id=category.id, kind=PRECONFIGURED, base_product_id=base,
            options=[ids["Full"], ids["Mountain"]],
        )  # fmt: skip

    preset_id = await run(store, handlers.create_product, preset_of(bike.id))
    assert store.products[preset_id].base_product_id == bike.id
    message = await refused(store, handlers.create_product, preset_of(plain.id), DomainError)
    assert message == "product B-1 is not configurable"


async def test_update_product_changes_it_and_refuses_options_on_a_simple_product() -> None:
    product = a_product()
    store = FakeStore(product)
    update = handlers.UpdateProduct(product.id, {"price": Decimal("12.50")}, expected_version=1)
    await run(store, handlers.update_product, update)
    assert store.products[product.id].price == Decimal("12.50")
    reselect = handlers.UpdateProduct(product.id, {}, options=[UUID(int=5)])
    message = await refused(store, handlers.update_product, reselect, DomainError)
    assert message.startswith("product B-1 is not preconfigured")
    stale = handlers.UpdateProduct(product.id, {"name": "x"}, expected_version=1)
    await refused(store, handlers.update_product, stale, VersionMismatch)


async def test_delete_product_and_a_base_with_preconfigured_products_is_kept() -> None:
    bike, ids = a_bike()
    preset = a_preset(bike, ids["Full"], ids["Mountain"])
    store = FakeStore(bike, preset)
    message = await refused(
        store, handlers.delete_product, handlers.DeleteProduct(bike.id), Conflict
    )
    assert message == "BIKE has preconfigured products (TRAIL): delete them first"
    await run(store, handlers.delete_product, handlers.DeleteProduct(preset.id))
    await run(store, handlers.delete_product, handlers.DeleteProduct(bike.id))
    assert store.products == {}
    await refused(store, handlers.delete_product, handlers.DeleteProduct(bike.id), NotFound)


async def test_set_stock_records_the_level_and_refuses_a_stale_version() -> None:
    product = a_product()
    store = FakeStore(product)
    await run(store, handlers.set_stock, handlers.SetStock(product.id, 7, "delivery", 1))
    [adjusted] = store.of_type(ev.StockAdjusted)
    assert (adjusted.delta, adjusted.stock) == (5, 7)
    await refused(
        store,
        handlers.set_stock,
        handlers.SetStock(product.id, 9, expected_version=1),
        VersionMismatch,
    )


async def test_edit_configuration_returns_what_it_created_and_presets_follow() -> None:
    bike, ids = a_bike()
    preset = a_preset(bike, ids["Full"], ids["Mountain"])
    store = FakeStore(bike, preset)
    rename = partial(cfg.with_option_changed, option_id=ids["Full"], name="Full suspension")
    await run(store, handlers.edit_configuration, handlers.EditConfiguration(bike.id, rename))
    assert [s.name for s in store.products[preset.id].selection] == ["Full suspension", "Mountain"]
    add_part = partial(cfg.with_part, name="Chain", required=False)
    created = await run(
        store, handlers.edit_configuration, handlers.EditConfiguration(bike.id, add_part)
    )
    assert created in {p.id for p in store.products[bike.id].configuration.parts}
    not_configurable = handlers.EditConfiguration(preset.id, add_part)
    await refused(store, handlers.edit_configuration, not_configurable, DomainError)


# ------------------------------------------------------------------ the stock saga


async def test_reserve_stock_takes_every_line_and_prices_the_order() -> None:
    road = a_product(stock=5)
    bike, ids = a_bike(stock=3)
    store = FakeStore(road, bike)
    lines = [(road.id, 2), LineRequest(bike.id, 1, (ids["Full"], ids["Road"]))]
    assert await run(store, handlers.reserve_stock, handlers.ReserveStock(ORDER, lines, "EUR"))
    [allocated] = store.of_type(ev.StockAllocated)
    assert allocated.total == Decimal("20.00") + Decimal("610.00")
    assert store.products[road.id].stock == 3
    assert store.reserved[ORDER] == {road.id: 2}
    assert store.reserved_options[ORDER] == {bike.id: {ids["Full"]: 1, ids["Road"]: 1}}


async def test_reserve_stock_rejects_the_whole_order_when_a_line_cannot_be_had() -> None:
    road, gravel = a_product(stock=5), a_product(sku="G-1", stock=1)
    store = FakeStore(road, gravel)
    lines = [(road.id, 2), (gravel.id, 3)]
    assert not await run(store, handlers.reserve_stock, handlers.ReserveStock(ORDER, lines))
    [rejected] = store.of_type(ev.StockRejected)
    assert [(line.line, line.reason) for line in rejected.lines] == [(1, "insufficient_stock")]
    assert not store.of_type(ev.StockReserved)
    assert (store.products[road.id].stock, store.products[gravel.id].stock) == (5, 1)


async def test_release_stock_puts_back_what_the_order_still_holds() -> None:
    road = a_product(stock=5)
    bike, ids = a_bike(stock=3)
    store = FakeStore(road, bike)
    lines = [(road.id, 2), LineRequest(bike.id, 1, (ids["Full"], ids["Road"]))]
    await run(store, handlers.reserve_stock, handlers.ReserveStock(ORDER, lines, "EUR"))
    assert await run(store, handlers.release_stock, handlers.ReleaseStock(ORDER)) == 2
    assert store.products[road.id].stock == 5
    assert store.products[bike.id].configuration.options[ids["Full"]].stock == 3
    assert await run(store, handlers.release_stock, handlers.ReleaseStock(ORDER)) == 0


async def test_release_stock_skips_a_product_deleted_since() -> None:
    road = a_product(stock=5)
    store = FakeStore(road)
    await run(store, handlers.reserve_stock, handlers.ReserveStock(ORDER, [(road.id, 2)]))
    await run(store, handlers.delete_product, handlers.DeleteProduct(road.id))
    assert await run(store, handlers.release_stock, handlers.ReleaseStock(ORDER)) == 0
    assert not store.of_type(ev.StockReleased)
