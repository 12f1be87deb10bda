"""Request dependencies: the request's unit of work and what the app provides by type
(who is asking is ``outreach.users.auth``).

Handlers never see the composition root: they declare what they use, by type
(``Annotated[Regions, Provided(Regions)]``), and the app supplies it
(``app.state.provided``, filled from the container at start)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.db.database import Database, Unit

T = TypeVar("T")


def Provided(kind: type[T]) -> Any:  # noqa: N802 - reads as a type in Annotated[...]
    """The app's ``kind`` (its Settings, Regions, Library, a repository …)."""

    def provide(request: Request) -> T:
        return cast(T, request.app.state.provided[kind])

    provide.__name__ = f"provide_{kind.__name__}"
    return Depends(provide)


async def get_unit(db: Annotated[Database, Provided(Database)]) -> AsyncIterator[Unit]:
    """The request's unit of work: the one transaction of a request, committed before
    the response goes out (services only flush)."""
    async with db.begin() as uow:
        yield uow


UnitDep = Annotated[Unit, Depends(get_unit, scope="function")]


async def get_session(uow: UnitDep) -> AsyncSession:
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
