"""The pydantic models of `params.yaml` and the one function that loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gitops_ml.errors import ParamsError


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataParams(_Section):
    """Where the raw data is and how to read it."""

    raw: str = Field(
        description="Path of the raw table, CSV or Parquet, relative to the repo root."
    )
    target: str = Field(description="Name of the binary target column.")
    positive_label: str | int | bool = Field(
        description="Value of the target column that marks the positive class."
    )
    id_column: str | None = Field(
        default=None, description="Optional row identifier: kept in the splits, never a feature."
    )
    numeric_features: list[str] | None = Field(
        default=None, description="Numeric feature columns; inferred from the data when absent."
    )
    categorical_features: list[str] | None = Field(
        default=None, description="Categorical feature columns; inferred from the data when absent."
    )
    test_size: float = Field(
        default=0.2, gt=0, lt=1, description="Fraction of rows held out for evaluation."
    )
    max_missing: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Largest fraction of missing values allowed in any feature column.",
    )

    @field_validator("raw")
    @classmethod
    def _known_format(cls, raw: str) -> str:
        if Path(raw).suffix.lower() not in {".csv", ".parquet", ".pq"}:
            raise ValueError("expected a path ending in .csv or .parquet")
        return raw


class LogisticRegressionParams(_Section):
    """L2-regularised logistic regression."""

    type: Literal["logistic_regression"]
    C: float = Field(default=1.0, gt=0, description="Inverse regularisation strength.")
    max_iter: int = Field(default=1000, ge=1, description="Solver iterations.")


class RandomForestParams(_Section):
    """A random forest of decision trees."""

    type: Literal["random_forest"]
    n_estimators: int = Field(default=300, ge=1, description="Number of trees.")
    max_depth: int | None = Field(default=None, ge=1, description="Depth limit; none = unlimited.")
    min_samples_leaf: int = Field(default=1, ge=1, description="Fewest samples in a leaf.")
    max_features: float | Literal["sqrt", "log2"] = Field(
        default="sqrt", description="Features considered per split (fraction or rule)."
    )


class HistGradientBoostingParams(_Section):
    """Histogram-based gradient boosting."""

    type: Literal["hist_gradient_boosting"]
    learning_rate: float = Field(default=0.05, gt=0, le=1, description="Shrinkage per tree.")
    max_iter: int = Field(default=300, ge=1, description="Boosting iterations.")
    max_leaf_nodes: int = Field(default=31, ge=2, description="Leaves per tree.")
    min_samples_leaf: int = Field(default=20, ge=1, description="Fewest samples in a leaf.")
    l2_regularization: float = Field(default=0.0, ge=0, description="L2 penalty on leaf values.")
    early_stopping: bool = Field(
        default=False, description="Stop on a validation split carved from the training data."
    )


ModelParams = Annotated[
    LogisticRegressionParams | RandomForestParams | HistGradientBoostingParams,
    Field(discriminator="type"),
]


class TrainParams(_Section):
    """Which estimator to fit, with its hyperparameters."""

    model: ModelParams
    class_weight: Literal["balanced"] | None = Field(
        default=None, description="`balanced` reweights classes by inverse frequency; none = equal."
    )


class EvaluateParams(_Section):
    """How the held-out test set is scored."""

    threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Probability at or above which a row is positive."
    )
    bootstrap: int = Field(
        default=200, ge=10, description="Bootstrap resamples for the standard errors."
    )
    top_features: int = Field(
        default=10, ge=1, description="Number of features in the importance report."
    )


class MlflowParams(_Section):
    """MLflow tracking; the URI comes from MLFLOW_TRACKING_URI."""

    experiment: str = Field(min_length=1, description="MLflow experiment name.")


class RegistryParams(_Section):
    """The MLflow Model Registry entry that promotion writes and serving reads."""

    # Also the GTO artifact name in git tags, hence GTO's stricter alphabet (no dots).
    model_name: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$",
        description="Registered model name (letters, digits, '-', '_').",
    )
    metric: str = Field(
        default="roc_auc", description="The metric that decides champion against challenger."
    )
    margin: float = Field(
        default=0.0,
        ge=0,
        description="Improvement required to replace the champion; 0 = not worse beyond noise.",
    )
    noise: float = Field(
        default=1.0,
        ge=0,
        description="Paired standard errors of difference counted as noise (when margin is 0).",
    )
    intended_use: str = Field(
        default="", description="What the model is for, quoted in its model card."
    )
    limitations: list[str] = Field(
        default_factory=list, description="Known limitations, listed in the model card."
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        from gitops_ml.metric_names import METRICS

        if metric not in METRICS:
            raise ValueError(f"expected one of {list(METRICS)}")
        return metric


class GatesParams(_Section):
    """The quality gate of pull requests; `report` reads it from the base revision."""

    floors: dict[str, float] = Field(
        default_factory=dict,
        description="Worst acceptable value per metric: a minimum, or a maximum for "
        "lower-is-better metrics (log_loss, brier).",
    )
    max_drop: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Largest allowed worsening versus the base per metric, in the metric's "
        "units; counted only when the change is beyond noise.",
    )
    must_improve: str | None = Field(
        default=None, description="A metric that must improve beyond noise; none = no such rule."
    )
    noise_z: float = Field(
        default=1.96,
        gt=0,
        description="A change is beyond noise when "
        "|change| > noise_z * sqrt(se_base² + se_branch²).",
    )

    @field_validator("floors", "max_drop")
    @classmethod
    def _known_metrics(cls, values: dict[str, float]) -> dict[str, float]:
        from gitops_ml.metric_names import METRICS

        unknown = sorted(set(values) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; expected some of {list(METRICS)}")
        return values

    @field_validator("must_improve")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        from gitops_ml.metric_names import METRICS

        if value is not None and value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; expected one of {list(METRICS)}")
        return value


class ServeParams(_Section):
    """Online serving and batch scoring: decision threshold, request limits, champion polling."""

    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Probability at or above which a record is positive; none = evaluate's.",
    )
    max_records: int = Field(
        default=1000, ge=1, description="Most records one /predict request may hold."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest /predict request body, in bytes."
    )
    max_batch_rows: int = Field(
        default=512,
        ge=1,
        description="Most rows scored in one model call when concurrent requests are batched.",
    )
    poll_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often to check the registry alias for a new champion; 0 = never.",
    )


class MonitorParams(_Section):
    """When `gitops-ml monitor` calls a batch drifted: thresholds of every check it runs."""

    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Significance level of the KS / chi-squared tests, after Benjamini-Hochberg "
        "correction across features.",
    )
    psi_threshold: float = Field(
        default=0.1,
        gt=0,
        description="Smallest population stability index at which a significant shift counts.",
    )
    bins: int = Field(
        default=10, ge=2, le=100, description="Quantile bins of the reference for numeric PSI."
    )
    max_missing_increase: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest rise of a feature's missing rate over the reference (absolute).",
    )
    max_new_category_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Largest share of a categorical feature's values unseen in training.",
    )
    max_out_of_range_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Largest share of a numeric feature's values outside the training range.",
    )
    performance_metric: str = Field(
        default="roc_auc", description="Metric compared with the reference when labels exist."
    )
    max_performance_drop: float = Field(
        default=0.05,
        ge=0,
        description="Largest worsening of `performance_metric` against the reference metrics.",
    )

    @field_validator("performance_metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        from gitops_ml.metric_names import METRICS

        if name not in METRICS:
            raise ValueError(f"expected one of {list(METRICS)}")
        return name


Scoring = Literal[
    "roc_auc",
    "average_precision",
    "neg_log_loss",
    "neg_brier_score",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "balanced_accuracy",
]


class TuneParams(_Section):
    """The optional tune stage: which of train.model's hyperparameters to search, and how."""

    space: dict[str, list[Any]] = Field(
        min_length=1,
        description="Candidate values per hyperparameter of train.model (its field names).",
    )
    search: Literal["grid", "random", "halving_random"] = Field(
        default="grid",
        description="grid: every combination; random: n_iter draws; "
        "halving_random: n_iter draws culled by successive halving.",
    )
    n_iter: int = Field(
        default=10, ge=1, description="Candidates drawn by the random and halving searches."
    )
    cv: int = Field(default=3, ge=2, le=20, description="Stratified cross-validation folds.")
    scoring: Scoring = Field(
        default="roc_auc", description="scikit-learn scorer that ranks the candidates."
    )
    max_rows: int = Field(
        default=200_000,
        ge=100,
        description="Training rows searched on (a seeded sample when there are more).",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes of the local cluster when DASK_SCHEDULER_ADDRESS is unset; "
        "none = one per CPU.",
    )

    @field_validator("space")
    @classmethod
    def _candidates(cls, space: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = sorted(name for name, values in space.items() if not values)
        if empty:
            raise ValueError(f"no candidate values for {empty}; expected a non-empty list each")
        return space


class Params(_Section):
    """The whole of params.yaml."""

    seed: int = Field(ge=0, description="Seed of every random choice (split, model, bootstrap).")
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    mlflow: MlflowParams
    registry: RegistryParams
    gates: GatesParams
    # Optional sections: a project that does not serve or monitor needs none; defaults are sane.
    monitor: MonitorParams = Field(default_factory=MonitorParams)
    serve: ServeParams = Field(default_factory=ServeParams)
    tune: TuneParams | None = None

    @property
    def threshold(self) -> float:
        """The serving threshold: serve.threshold, or evaluate.threshold when not set."""
        return self.serve.threshold if self.serve.threshold is not None else self.evaluate.threshold

    @model_validator(mode="after")
    def _tune_fits_the_model(self) -> Params:
        # Each candidate must be a valid value of the configured model, checked here so a bad
        # search space fails at load time, not after hours of fits on a cluster.
        if self.tune is None:
            return self
        model = self.train.model
        known = set(type(model).model_fields) - {"type"}
        unknown = sorted(set(self.tune.space) - known)
        if unknown:
            raise ValueError(
                f"tune.space: {unknown} are not hyperparameters of {model.type}; "
                f"expected some of {sorted(known)}"
            )
        for name, values in self.tune.space.items():
            for value in values:
                try:
                    type(model).model_validate({**model.model_dump(), name: value})
                except ValidationError as exc:
                    reason = exc.errors()[0]["msg"]
                    raise ValueError(f"tune.space.{name}: candidate {value!r}: {reason}") from None
        return self

    @model_validator(mode="after")
    def _features_disjoint(self) -> Params:
        num = set(self.data.numeric_features or [])
        cat = set(self.data.categorical_features or [])
        both = sorted(num & cat)
        if both:
            raise ValueError(f"data: columns listed as both numeric and categorical: {both}")
        return self


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid parameters"]
    for err in error.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key")
        elif err["type"] == "missing":
            lines.append(f"  {loc}: required key is missing")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            lines.append(f"  {loc}: {err['msg']}{shown}")
    return "\n".join(lines)


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read and validate params.yaml; raise ParamsError naming the key on any problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_describe(exc, path)) from None
