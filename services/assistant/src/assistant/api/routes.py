"""Public search routes: semantic/hybrid search and recommendations."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from assistant.api.schemas import (
    AppliedFilters,
    ParsedConstraints,
    RecommendedProduct,
    SearchHit,
    SearchResults,
    StrategyRecommendations,
)
from assistant.constraints import ParsedQuery
from assistant.recommendations import Strategy, recommend
from assistant.search import Filters, IndexUnavailable, Results, SearchService, UnknownProduct
from assistant.storage import categories as categories_store
from marcus_web.openapi import problems
from marcus_web.problems import Problem
from marcus_web.responses import ModelResponse

router = APIRouter(prefix="/api/v1", tags=["search"])

MAX_K = 100
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"


def _service(request: Request) -> SearchService:
    service: SearchService = request.app.state.search
    return service


def _unavailable(exc: Exception) -> Problem:
    return Problem(
        503,
        "Service Unavailable",
        f"Search is not available right now: {exc}. Retry later.",
        headers={"Retry-After": "5"},
    )


def _hits(results: Results) -> list[SearchHit]:
    return [SearchHit.model_validate(hit, from_attributes=True) for hit in results.hits]


@router.get("/search", response_model=SearchResults, summary="Search products by meaning")
async def search(
    request: Request,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            description="What to look for. Constraints written in it are applied (unless "
            '`parse=false`): "under 100 euros", "over 500", "between 20 and 40", "in stock", '
            "a category's name; `parsed` echoes them.",
        ),
    ],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results.")] = 10,
    category: Annotated[
        str | None,
        Query(pattern=CATEGORY_PATTERN, description="Category slug (wins over `q`'s)."),
    ] = None,
    max_price: Annotated[
        Decimal | None,
        Query(ge=0, max_digits=12, decimal_places=2, description="Wins over `q`'s cap."),
    ] = None,
    min_price: Annotated[
        Decimal | None,
        Query(ge=0, max_digits=12, decimal_places=2, description="Wins over `q`'s floor."),
    ] = None,
    in_stock: Annotated[bool | None, Query(description="Wins over `q`'s.")] = None,
    mode: Annotated[
        Literal["semantic", "hybrid"],
        Query(description="`hybrid` fuses the semantic ranking with keyword relevance (BM25)."),
    ] = "semantic",
    parse: Annotated[
        bool, Query(description="Read constraints written in `q` (`false`: `q` as it is).")
    ] = True,
) -> Response:
    query = q.strip()
    if not query:
        raise Problem(
            422,
            "Unprocessable Content",
            "The request is not valid; see `errors` for each field.",
            errors=[{"loc": ["query", "q"], "msg": "must not be blank", "type": "blank"}],
        )
    explicit = Filters(
        category=category, max_price=max_price, min_price=min_price, in_stock=in_stock
    )
    parsed = (
        await categories_store.parse_query(request.app.state.sessions, query)
        if parse
        else ParsedQuery(query)
    )
    filters = Filters.of(parsed, explicit)
    try:
        results = await _service(request).search(parsed.text, k, filters, hybrid=mode == "hybrid")
    except IndexUnavailable as exc:
        raise _unavailable(exc) from exc
    answer = SearchResults(
        query=query,
        mode=mode,
        k=k,
        parsed=ParsedConstraints.model_validate(parsed, from_attributes=True),
        filters=AppliedFilters.model_validate(filters, from_attributes=True),
        collection=results.collection,
        embedder=results.embedder,
        results=_hits(results),
    )
    return ModelResponse(answer)


@router.get(
    "/recommendations",
    response_model=StrategyRecommendations,
    summary="Recommendations: similar products, frequently bought together, or best sellers",
    responses=problems(404),
)
async def recommendations(
    request: Request,
    product_id: Annotated[
        UUID | None,
        Query(description="The product to recommend for (required unless `popular`)."),
    ] = None,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    in_stock: Annotated[bool | None, Query()] = None,
    category: Annotated[
        str | None,
        Query(pattern=CATEGORY_PATTERN, description="Only products of this category (slug)."),
    ] = None,
    strategy: Annotated[
        Strategy,
        Query(
            description="`similar`: nearest neighbours in the index; `bought_together`: "
            "products most often in the same confirmed orders; `popular`: best sellers of "
            "the last 30 days, counted as orders are confirmed or cancelled (the product "
            "itself excluded when given; per category with `category`)."
        ),
    ] = "similar",
) -> StrategyRecommendations:
    if product_id is None and strategy != "popular":
        raise Problem(
            422,
            "Unprocessable Content",
            "The request is not valid; see `errors` for each field.",
            errors=[
                {
                    "loc": ["query", "product_id"],
                    "msg": f"required for strategy {strategy!r}",
                    "type": "missing",
                }
            ],
        )
    try:
        results = await recommend(
            _service(request),
            request.app.state.sessions,
            strategy,
            product_id,
            k,
            Filters(category=category, in_stock=in_stock),
        )
    except IndexUnavailable as exc:
        raise _unavailable(exc) from exc
    except UnknownProduct as exc:
        raise Problem(
            404, "Not Found", f"Product {product_id} is not in the search index."
        ) from exc
    return StrategyRecommendations(
        strategy=strategy,
        product_id=None if product_id is None else str(product_id),
        k=k,
        category=category,
        collection=results.collection,
        embedder=results.embedder,
        results=[
            RecommendedProduct.model_validate(hit, from_attributes=True) for hit in results.hits
        ],
    )
