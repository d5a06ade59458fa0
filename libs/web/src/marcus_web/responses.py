"""`ModelResponse`: a route's answer model written straight to JSON.

A route that returns a pydantic model has FastAPI validate it again against the
route's `response_model` and encode it through `jsonable_encoder` and `json.dumps`; for a
model the route just built and validated, that second pass is pure cost (about a tenth of
a search's CPU in the assistant). The route keeps `response_model` for its OpenAPI
schema and returns this instead: pydantic's own JSON, the same document.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.responses import Response


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(
        self,
        model: BaseModel,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(model.model_dump_json(), status_code, headers, None, background)
