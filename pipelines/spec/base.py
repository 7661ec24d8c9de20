"""Types and the frozen base model shared by the spec models and the modules beside them (no import of `models.py`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

DType = Literal[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "bool",
    "string",
    "date",
    "datetime",
]
NUMERIC_DTYPES: frozenset[str] = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}
)
TIME_DTYPES: frozenset[str] = frozenset({"datetime", "date"})
Role = Literal["timestamp", "entity", "measurement", "label", "attribute"]
Sensitivity = Literal["personal", "confidential", "public"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # `.nan` or `.inf` bounds check nothing
    # Fields added after specs were first hashed: left out of a dump while at their default, so the
    # data and metadata hashes of specs that do not use them stay as they were.
    ADDED_LATER: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_new_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for key in self.ADDED_LATER:
            if getattr(self, key) == type(self).model_fields[key].default:
                out.pop(key, None)
        return out
