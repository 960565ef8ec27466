"""HTTP API of Echo Service (shaped like a generated http module)."""

# No `from __future__ import annotations`: FastAPI evaluates the Depends(...) annotations.
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from generator.contracts import Authorizer, OperationSpec, RequestContext

COUNT_PINGS = OperationSpec("countPings", "GET", "/echo/pings", summary="How many pings")
OPERATIONS = (COUNT_PINGS,)


class PingCount(BaseModel):
    count: int


class EchoServiceHttpHandlers(Protocol):
    async def count_pings(self, request: RequestContext) -> PingCount: ...


def build_router(handlers: EchoServiceHttpHandlers, authorizer: Authorizer) -> APIRouter:
    router = APIRouter(tags=["Echo Service"])

    @router.get("/echo/pings", operation_id="countPings", response_model=PingCount)
    async def count_pings(
        request: Annotated[RequestContext, Depends(authorizer.dependency(COUNT_PINGS))],
    ) -> PingCount:
        return await handlers.count_pings(request)

    return router
