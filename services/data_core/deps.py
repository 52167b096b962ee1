"""FastAPI dependencies of the data core."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from services.data_core.factors.store import FactorCache
from services.data_core.settings import DataCoreSettings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_connection(request: Request) -> Iterator[Connection]:
    with request.app.state.engine.begin() as conn:
        yield conn


def get_cache(request: Request) -> FactorCache:
    return request.app.state.factor_cache


def get_settings_dep(request: Request) -> DataCoreSettings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
# scope="function": the transaction commits before the response is sent (a caller that reads right after
# an answer sees the write; a failed commit is an error answer, not a silent loss)
ConnDep = Annotated[Connection, Depends(get_connection, scope="function")]
CacheDep = Annotated[FactorCache, Depends(get_cache)]
SettingsDep = Annotated[DataCoreSettings, Depends(get_settings_dep)]
