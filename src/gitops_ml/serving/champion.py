"""The registered model that serving and batch scoring load, and what to do when there is none.

Both default to `models:/<registry.model_name>@champion`; on a fresh project nothing has been
promoted yet, and the registry's own "not found" does not say how to get a model to score with.
"""

from __future__ import annotations

from gitops_ml.core.errors import ModelError
from gitops_ml.infra import model_source
from gitops_ml.infra.model_source import ModelRef
from gitops_ml.infra.tracking import describe_uri


def resolve(uri: str) -> ModelRef:
    """The version `uri` names now; for an alias nothing points at, ModelError saying what to do."""
    try:
        return model_source.resolve(uri)
    except ModelError as exc:
        alias = model_source.alias_of(uri)
        if alias is None:
            raise
        name, label = alias
        raise ModelError(
            f"{exc}\n  No {label} of {name} in the registry ({describe_uri()}). Promote a model "
            "first (`gitops-ml promote`, which the Promote workflow runs on every merge to "
            "main), or score the model file this workspace built: --model models/model.skops"
        ) from None
