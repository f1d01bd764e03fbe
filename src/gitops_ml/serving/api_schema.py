"""The API's request and response models; the record model is generated from the schema, so
OpenAPI documents every field, its type and its known categories.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model

from gitops_ml.core.schema import FeatureSchema

# Numeric inputs beyond this magnitude are refused: real features never get there, and
# scaling such values can overflow to infinity, which the estimators reject.
MAX_ABS = 1e15


def record_model(schema: FeatureSchema) -> type[BaseModel]:
    """The pydantic model of one record: every feature required (null = missing), no others.

    Fields are named `f<N>` with the column as their alias (what clients send, and what OpenAPI
    shows): a column may be called anything, `_x` or `model_config` included, which pydantic
    refuses or confuses as a field name. `columns_of` maps the names back.
    """
    fields: dict[str, Any] = {}
    for col in schema.numeric:
        low, high = schema.ranges.get(col, (None, None))
        seen = f" Seen in training: {low:g} to {high:g}." if low is not None else ""
        fields[col] = (
            float | None,
            Field(
                ...,
                strict=True,
                allow_inf_nan=False,
                ge=-MAX_ABS,
                le=MAX_ABS,
                description=f"Numeric feature; null if unknown.{seen}",
                examples=[low] if low is not None else None,
                alias=col,
                title=col,
            ),
        )
    for col in schema.categorical:
        known = schema.categories.get(col, [])
        listed = f" Known categories: {', '.join(repr(c) for c in known)}." if known else ""
        fields[col] = (
            str | None,
            Field(
                ...,
                strict=True,
                description=(
                    f"Categorical feature; null if unknown.{listed} "
                    "Other values are scored as unseen and counted."
                ),
                examples=known[:1] or None,
                json_schema_extra={"x-known-categories": list[Any](known)} if known else None,
                alias=col,
                title=col,
            ),
        )
    if schema.id_column and schema.id_column not in schema.features:
        fields[schema.id_column] = (
            StrictStr | StrictInt | None,
            Field(
                default=None,
                description="Record id, echoed in the response.",
                alias=schema.id_column,
                title=schema.id_column,
            ),
        )
    named = {f"f{i}": spec for i, spec in enumerate(fields.values())}
    config = ConfigDict(extra="forbid", allow_inf_nan=False, title="Record")
    model: type[BaseModel] = create_model("Record", __config__=config, **named)
    return model


def columns_of(record: type[BaseModel]) -> dict[str, str]:
    """Field name → column, for a model made by `record_model`."""
    return {name: field.alias or name for name, field in record.model_fields.items()}


class Prediction(BaseModel):
    """The score of one record."""

    probability: float = Field(description="Probability of the positive label.")
    label: str = Field(
        description="The positive label when probability ≥ threshold, else the negative."
    )
    id: str | int | None = Field(default=None, description="The record's id, when it sent one.")


class PredictResponse(BaseModel):
    """Predictions in request order, and the model that made them."""

    model_name: str
    model_version: str
    threshold: float
    predictions: list[Prediction]


class ErrorItem(BaseModel):
    """One problem with a request: where (body, record index, field) and what was expected."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """A rejected request."""

    detail: list[ErrorItem]


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    detail: str | None = None


class Scoring(BaseModel):
    """Which path computes the probabilities, and why."""

    engine: str = Field(
        description="onnxruntime or numpy (compiled from the model file), or scikit-learn."
    )
    reason: str = Field(description="Why this path: what was compiled, or why it could not be.")


class Metadata(BaseModel):
    """The served model and where it came from."""

    model_name: str
    model_version: str
    model_uri: str
    run_id: str | None
    git_commit: str | None
    data_hashes: dict[str, str]
    metrics: dict[str, float]
    threshold: float
    schema_source: str
    features: list[str]
    loaded_at: float
    scoring: Scoring
