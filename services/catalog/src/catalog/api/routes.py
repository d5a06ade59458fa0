"""HTTP routes of the catalog: thin adapters from requests to handlers and queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import handlers
from catalog.api import consistency
from catalog.api.schemas import (
    CategoryIn,
    CategoryList,
    CategoryOut,
    CategoryPatch,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    StockIn,
)
from catalog.storage import queries
from catalog.storage.configurations import load_configurations, load_selections
from catalog.storage.read_cache import (
    BYPASSES,
    CATEGORY,
    HITS,
    LIST,
    MISSES,
    PRODUCT,
    Cached,
    Key,
    ReadCache,
)
from catalog.storage.uow import CatalogUnitOfWork
from marcus_web.auth import Admin
from marcus_web.dependencies import ReadSession, sessions, unit_of_work
from marcus_web.openapi import problems
from marcus_web.pagination import CURSOR_RESPONSES, PageCursor, encode_cursor
from marcus_web.problems import Problem

router = APIRouter(prefix="/api/v1")


_new_unit_of_work = unit_of_work(CatalogUnitOfWork)


async def catalog_unit_of_work(request: Request, response: Response) -> CatalogUnitOfWork:
    """A write's unit of work (the shared one) whose commit also puts the consistency
    token on the response and drops what it changed from this replica's cache."""
    uow = await _new_unit_of_work(request)
    cache = _read_cache(request)
    uow.on_commit = lambda position, envelopes: consistency.committed(
        response, cache, position, envelopes
    )
    return uow


def _read_cache(request: Request) -> ReadCache | None:
    cache: ReadCache | None = getattr(request.app.state, "read_cache", None)
    return cache


UoW = Annotated[CatalogUnitOfWork, Depends(catalog_unit_of_work)]
IfMatch = Annotated[
    str | None,
    Header(description='Expected version, as returned in ETag (e.g. "3"); 412 if it changed.'),
]


def expected_version(if_match: str | None, body_version: int | None = None) -> int | None:
    """The version the client expects, from If-Match (`"3"`, `W/"3"`, `3`) or the body."""
    if if_match is None or if_match.strip() == "*":
        return body_version
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise Problem(400, "Bad Request", 'If-Match must be a version as given in ETag, e.g. "3".')
    version = int(raw)
    if body_version is not None and body_version != version:
        raise Problem(400, "Bad Request", "If-Match and the body's version disagree.")
    return version


def etag(version: int) -> str:
    return f'"{version}"'


async def _product_row(session: AsyncSession, product_id: UUID) -> tuple[ProductOut, int]:
    row = await queries.get_product(session, product_id)
    if row is None:
        raise Problem(404, "Not Found", f"product {product_id} does not exist")
    configuration = selection = None
    if row.kind == "configurable":
        configuration = (await load_configurations(session, [row.id]))[row.id]
    elif row.kind == "preconfigured":
        selection = (await load_selections(session, [row.id]))[row.id]
    return ProductOut.from_row(row, configuration, selection), row.version


async def _product_out(session: AsyncSession, product_id: UUID, response: Response) -> ProductOut:
    out, version = await _product_row(session, product_id)
    response.headers["ETag"] = etag(version)
    return out


async def _written_product(
    request: Request,
    uow: CatalogUnitOfWork,
    product_id: UUID,
    response: Response,
    command: Command,
) -> ProductOut:
    """Run `command` (a handler call on `uow`) and answer with the product as it wrote it,
    read in the command's transaction just before it commits (`CatalogUnitOfWork.read_back`)."""
    answer: list[ProductOut] = []

    async def read(session: AsyncSession) -> None:
        answer.append(await _product_out(session, product_id, response))

    uow.read_back = read
    await command()
    if answer:
        return answer[-1]
    async with sessions(request)() as session:  # no commit ran the read
        return await _product_out(session, product_id, response)


Command = Callable[[], Awaitable[object]]


async def _read_product(session: AsyncSession, product_id: UUID) -> Cached:
    out, version = await _product_row(session, product_id)
    return Cached.of(out.__pydantic_serializer__.to_json(out), etag(version))


async def _read_category(session: AsyncSession, category_id: UUID) -> Cached:
    row = await queries.get_category(session, category_id)
    if row is None:
        raise Problem(404, "Not Found", f"category {category_id} does not exist")
    out = CategoryOut.model_validate(row, from_attributes=True)
    return Cached.of(out.__pydantic_serializer__.to_json(out), etag(row.version))


async def _read_page(session: AsyncSession, page: ProductPageQuery) -> Cached:
    filters, limit, after = page
    rows, next_after = await queries.list_products(session, filters, limit, after)
    out = ProductPage(
        items=[ProductOut.from_row(r) for r in rows],
        next_cursor=encode_cursor(next_after) if next_after else None,
    )
    return Cached.of(out.__pydantic_serializer__.to_json(out))


ProductPageQuery = tuple[queries.ProductFilter, int, UUID | None]


async def _cached_get(
    request: Request, key: Key, read: Callable[..., Awaitable[Cached]], strict: bool = True
) -> Response:
    """The read path of GET by id: the cached bytes when this replica may serve them (see
    `ReadCache.usable`), else one read of PostgreSQL that refills the cache.

    Not `strict` (the product list, which read PostgreSQL always before it was cached):
    a malformed or future token is not refused, it bypasses the cache, as it did."""
    cache = _read_cache(request)
    token = consistency.token_of(request.scope) if strict else consistency.lenient(request.scope)
    outcome = b"off"
    generation = 0
    if cache is not None:
        if strict and token is not None and token > cache.applied_position:
            await consistency.refuse_from_the_future(token, cache, sessions(request))
        generation = cache.generation
        if cache.usable(token):
            entry = cache.get(key)
            if entry is not None:
                HITS.inc()
                return CachedResponse(entry, b"hit")
            MISSES.inc()
            outcome = b"miss"
        else:
            BYPASSES.inc()
            outcome = b"bypass"
    async with sessions(request)() as session:
        entry = await read(session, key[1])
    if cache is not None:
        cache.fill(key, entry, generation)
    return CachedResponse(entry, outcome)


class CachedResponse(Response):
    """A 200 whose headers were built when the entry was filled (Response.__init__ would
    build them again on every hit)."""

    def __init__(self, entry: Cached, outcome: bytes) -> None:
        self.status_code = 200
        self.body = entry.body
        self.background = None
        self.raw_headers = [*entry.raw_headers, (_READ_CACHE_RAW, outcome)]


class PageRoute(APIRoute):
    """The product list's route: a page this replica may serve from its cache is answered
    before FastAPI parses and validates the query (a third of a hit's time with eight
    parameters). Pages are keyed by the raw query string, which decides the answer as
    fully as the parsed parameters do; only a 200 is ever stored, so a query FastAPI
    would refuse is never answered from here. Anything else runs the route as usual."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def serve(request: Request) -> Response:
            return _page_hit(request) or await handle(request)

        return serve


def _page_key(request: Request) -> Key:
    return (LIST, request.scope["query_string"])


def _page_hit(request: Request) -> Response | None:
    """The cached page, if this replica may serve it (misses and bypasses are counted by
    the route, which reads PostgreSQL)."""
    cache = _read_cache(request)
    if cache is None or not cache.usable(consistency.lenient(request.scope)):
        return None
    entry = cache.get(_page_key(request))
    if entry is None:
        return None
    HITS.inc()
    return CachedResponse(entry, b"hit")


READ_CACHE_HEADER = "Marcus-Read-Cache"
_READ_CACHE_RAW = READ_CACHE_HEADER.lower().encode()
CONSISTENCY = (
    " Served from this replica's cache of the response when it may: without a"
    f" `{consistency.HEADER}` (header or cookie), a response reflects every change committed"
    " up to at most `READ_CACHE_MAX_LAG` seconds (default 3) before it, usually a few"
    " milliseconds; with the token a write returned, it reflects that write and everything"
    " committed before it, on any replica. A malformed token is a 400, and so is one"
    " ahead of every committed write (no write returned it)."
    f" `{READ_CACHE_HEADER}` says how it was answered: hit, miss, bypass (the replica had"
    " not applied the token yet, or is resyncing), off."
)

CONSISTENCY_OF_PAGES = CONSISTENCY.replace(
    " A malformed token is a 400, and so is one ahead of every committed write (no write"
    " returned it).",
    " A malformed token, or one ahead of every committed write, reads PostgreSQL.",
)

TOKEN_PARAMETER = {
    "parameters": [
        {
            "name": consistency.HEADER,
            "in": "header",
            "required": False,
            "description": "The token a write returned (or the cookie of the same name):"
            " read at least that write.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
        }
    ]
}

PAGE_TOKEN_PARAMETER = {
    "parameters": [
        {
            **TOKEN_PARAMETER["parameters"][0],
            "description": "The token a write returned (or the cookie of the same name):"
            " read at least that write. Any value is accepted: one that is not a token"
            " a write returned reads PostgreSQL.",
            "schema": {"type": "string"},
        }
    ]
}
"""The lists never refused a token (before they were cached they read PostgreSQL every
time), so their token is documented without the pattern a single read enforces."""


# --- categories ---------------------------------------------------------------------------


@router.get("/categories", response_model=CategoryList, tags=["categories"])
async def list_categories(session: ReadSession) -> CategoryList:
    rows = await queries.list_categories(session)
    return CategoryList(items=[CategoryOut.model_validate(r, from_attributes=True) for r in rows])


@router.get(
    "/categories/{category_id}",
    response_model=CategoryOut,
    tags=["categories"],
    description="One category." + CONSISTENCY,
    openapi_extra=TOKEN_PARAMETER,
    responses=problems(400),
)
async def get_category(category_id: UUID, request: Request) -> Response:
    return await _cached_get(request, (CATEGORY, category_id), _read_category)


async def _category_out(
    category_id: UUID, session: AsyncSession, response: Response
) -> CategoryOut:
    row = await queries.get_category(session, category_id)
    if row is None:
        raise Problem(404, "Not Found", f"category {category_id} does not exist")
    response.headers["ETag"] = etag(row.version)
    return CategoryOut.model_validate(row, from_attributes=True)


@router.post(
    "/categories",
    response_model=CategoryOut,
    status_code=status.HTTP_201_CREATED,
    tags=["categories"],
)
async def create_category(
    body: CategoryIn, _: Admin, uow: UoW, session: ReadSession, response: Response
) -> CategoryOut:
    category_id = await handlers.create_category(
        handlers.CreateCategory(slug=body.slug, name=body.name, description=body.description), uow
    )
    response.headers["Location"] = f"/api/v1/categories/{category_id}"
    return await _category_out(category_id, session, response)


@router.patch("/categories/{category_id}", response_model=CategoryOut, tags=["categories"])
async def update_category(
    category_id: UUID,
    body: CategoryPatch,
    _: Admin,
    uow: UoW,
    session: ReadSession,
    response: Response,
    if_match: IfMatch = None,
) -> CategoryOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    await handlers.update_category(
        handlers.UpdateCategory(category_id, changes, expected_version(if_match)), uow
    )
    return await _category_out(category_id, session, response)


# --- products -----------------------------------------------------------------------------


async def list_products(
    request: Request,
    after: PageCursor,
    category: Annotated[str | None, Query(description="category id or slug", max_length=80)] = None,
    q: Annotated[
        str | None, Query(description="text in name, description or sku", max_length=200)
    ] = None,
    min_price: Annotated[Decimal | None, Query(ge=0, max_digits=12, decimal_places=2)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0, max_digits=12, decimal_places=2)] = None,
    in_stock: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    category_id, category_slug = None, None
    if category:
        try:
            category_id = UUID(category)
        except ValueError:
            category_slug = category
    filters = queries.ProductFilter(
        category_id=category_id,
        category_slug=category_slug,
        q=q,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
    )
    page: ProductPageQuery = (filters, limit, after)
    return await _cached_get(
        request, _page_key(request), lambda session, _: _read_page(session, page), strict=False
    )


router.add_api_route(
    "/products",
    list_products,
    methods=["GET"],
    response_model=ProductPage,
    tags=["products"],
    description="One page of products in id order (newest last)." + CONSISTENCY_OF_PAGES,
    openapi_extra=PAGE_TOKEN_PARAMETER,
    responses=CURSOR_RESPONSES,
    route_class_override=PageRoute,
)


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    tags=["products"],
    description="One product." + CONSISTENCY,
    openapi_extra=TOKEN_PARAMETER,
    responses=problems(400),
)
async def get_product(product_id: UUID, request: Request) -> Response:
    return await _cached_get(request, (PRODUCT, product_id), _read_product)


@router.post(
    "/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED, tags=["products"]
)
async def create_product(
    body: ProductIn, _: Admin, uow: UoW, session: ReadSession, response: Response
) -> ProductOut:
    errors = body.kind_errors()
    if errors:
        raise Problem(
            422,
            "Unprocessable Content",
            f"These fields do not fit a {body.kind} product.",
            errors=errors,
        )
    product_id = await handlers.create_product(
        handlers.CreateProduct(
            sku=body.sku,
            name=body.name,
            description=body.description,
            price=body.price,
            currency=body.currency,
            category_id=body.category_id,
            attributes=body.attributes,
            stock=body.stock,
            kind=body.kind,
            base_product_id=body.base_product_id,
            options=body.options or (),
        ),
        uow,
    )
    response.headers["Location"] = f"/api/v1/products/{product_id}"
    return await _product_out(session, product_id, response)


@router.patch("/products/{product_id}", response_model=ProductOut, tags=["products"])
async def update_product(
    product_id: UUID,
    body: ProductPatch,
    _: Admin,
    uow: UoW,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ProductOut:
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version", None)
    category_id = changes.pop("category_id", None)
    options = changes.pop("options", None)
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise Problem(
            422,
            "Unprocessable Content",
            "These fields cannot be null.",
            errors=[{"loc": ["body", k], "msg": "may not be null", "type": "null"} for k in nulls],
        )
    command = handlers.UpdateProduct(
        product_id, changes, category_id, expected_version(if_match, version), options
    )
    return await _written_product(
        request, uow, product_id, response, lambda: handlers.update_product(command, uow)
    )


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["products"])
async def delete_product(product_id: UUID, _: Admin, uow: UoW, if_match: IfMatch = None) -> None:
    """204 with the consistency token (None: FastAPI merges the token's headers)."""
    await handlers.delete_product(
        handlers.DeleteProduct(product_id, expected_version(if_match)), uow
    )


@router.put("/products/{product_id}/stock", response_model=ProductOut, tags=["stock"])
async def set_stock(
    product_id: UUID,
    body: StockIn,
    _: Admin,
    uow: UoW,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ProductOut:
    command = handlers.SetStock(product_id, body.stock, body.reason, expected_version(if_match))
    return await _written_product(
        request, uow, product_id, response, lambda: handlers.set_stock(command, uow)
    )
