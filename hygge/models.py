"""The shapes of hygge.yml and flow files (homes and stores are each connector's own model)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["replace", "append", "merge"]
SchemaPolicy = Literal["fail", "append_new_columns", "ignore"]
NullPolicy = Literal["fail", "include", "exclude"]
# Rows per batch; far above any useful size, and within what Polars and the drivers take as a length.
MAX_BATCH_SIZE = 10_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetSpec(Strict):
    vars: dict[str, str | int | float | bool] = Field(default_factory=dict)


class DefaultsSpec(Strict):
    home: str | None = None
    store: str | None = None
    mode: Mode | None = None
    on_schema_change: SchemaPolicy | None = None
    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_SIZE)


class ProjectSpec(Strict):
    name: str
    defaults: DefaultsSpec = DefaultsSpec()
    threads: int = Field(default=4, ge=1, le=256, strict=True)  # `threads: true` is no number
    targets: dict[str, TargetSpec] = Field(default_factory=dict)
    default_target: str | None = None
    version: int | None = None


class IncrementalSpec(Strict):
    cursor: str
    initial: Any = None
    lag: Any = None
    nulls: NullPolicy = "fail"

    @field_validator("lag")
    @classmethod
    def _lag(cls, value: Any) -> Any:
        from hygge.incremental import parse_lag

        parse_lag(value)
        return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class FlowFields(Strict):
    """Everything a flow or one of its entities may set."""

    home: str | None = None
    store: str | None = None
    source: str | None = None
    query: str | None = None
    target: str | None = None
    mode: Mode | None = None
    key: list[str] = Field(default_factory=list)
    incremental: IncrementalSpec | None = None
    depends_on: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    on_schema_change: SchemaPolicy | None = None
    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_SIZE)
    allow_empty: bool = False
    description: str | None = None

    _lists = field_validator("key", "depends_on", "tags", mode="before")(_as_list)

    @field_validator("home", "store", "source", "query", "target")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        # `source: ""` (often a ${VAR} that expanded to nothing) would quietly mean the default
        if value is not None and not value.strip():
            raise ValueError("must not be empty: give a name, or leave the key out for the default")
        return value


class EntitySpec(FlowFields):
    """Overrides for one entity of a flow with `entities:`."""


class FlowSpec(FlowFields):
    entities: list[str] | dict[str, EntitySpec | None] | None = None
