"""The pydantic models of `params.yaml` and the one function that loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gitops_ml.core.errors import ParamsError
from gitops_ml.core.formats import EXPECTED, table_kind
from gitops_ml.core.metric_rules import METRICS
from gitops_ml.core.yaml12 import parse_yaml


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; expected one of {list(METRICS)}")
    return name


# A metric the evaluate stage computes: gates, promotion and monitoring may only name those.
MetricName = Annotated[str, AfterValidator(_known_metric)]


class DataParams(_Section):
    """Where the raw data is and how to read it."""

    raw: str = Field(
        description="Path of the raw table, CSV or Parquet, relative to the repo root."
    )
    target: str = Field(description="Name of the binary target column.")
    positive_label: str | int | bool = Field(
        description="Value of the target column that marks the positive class, compared as "
        'text as the file holds it: quote it ("1", "true"); a YAML number or boolean names '
        "the same label."
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
    drop_columns: list[str] = Field(
        default_factory=list,
        description="Columns `prepare` drops before anything else: ones a model cannot use "
        "(dates, free text, identifiers other than `id_column`) or must not see.",
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
        if table_kind(raw) is None:
            raise ValueError(f"expected {EXPECTED}")
        return raw

    @model_validator(mode="after")
    def _roles_apart(self) -> DataParams:
        # A column has one role: target, row identifier, feature, or dropped.
        features = {*(self.numeric_features or []), *(self.categorical_features or [])}
        if self.id_column is not None and self.id_column == self.target:
            raise ValueError(f"id_column {self.id_column!r} is the target; expected another column")
        if self.id_column is not None and self.id_column in features:
            raise ValueError(
                f"id_column {self.id_column!r} is also listed as a feature; an identifier is "
                "never a feature"
            )
        if self.target in features:
            raise ValueError(f"target {self.target!r} is also listed as a feature")
        named = {self.target, *([self.id_column] if self.id_column else []), *features}
        clash = sorted(named & set(self.drop_columns))
        if clash:
            raise ValueError(f"drop_columns also names {clash}, which params.yaml uses")
        return self


class LogisticRegressionParams(_Section):
    """L2-regularised logistic regression."""

    type: Literal["logistic_regression"] = Field(description="Selects this estimator.")
    C: float = Field(default=1.0, gt=0, description="Inverse regularisation strength.")
    max_iter: int = Field(default=1000, ge=1, description="Solver iterations.")


class RandomForestParams(_Section):
    """A random forest of decision trees."""

    type: Literal["random_forest"] = Field(description="Selects this estimator.")
    n_estimators: int = Field(default=300, ge=1, description="Number of trees.")
    max_depth: int | None = Field(default=None, ge=1, description="Depth limit; none = unlimited.")
    min_samples_leaf: int = Field(default=1, ge=1, description="Fewest samples in a leaf.")
    max_features: float | Literal["sqrt", "log2"] = Field(
        default="sqrt", description="Features considered per split (fraction or rule)."
    )


class HistGradientBoostingParams(_Section):
    """Histogram-based gradient boosting."""

    type: Literal["hist_gradient_boosting"] = Field(description="Selects this estimator.")
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

    model: ModelParams = Field(
        description="The estimator: `type` picks one, the other keys are its hyperparameters."
    )
    class_weight: Literal["balanced"] | None = Field(
        default=None, description="`balanced` reweights classes by inverse frequency; none = equal."
    )


class EvaluateParams(_Section):
    """How the held-out test set is scored."""

    threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Probability at or above which a row is positive."
    )
    bootstrap: int = Field(
        default=200,
        ge=10,
        le=10_000,
        description="Bootstrap resamples for the standard errors (at 10,000 an error is known "
        "to within about 1% of itself; more would only cost time).",
    )
    top_features: int = Field(
        default=10, ge=1, description="Number of features in the importance report."
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Categorical features whose values are scored apart (slices with at least "
        "100 rows and 10 of each class); the pull-request report compares them.",
    )


class MlflowParams(_Section):
    """MLflow tracking; the URI comes from MLFLOW_TRACKING_URI."""

    experiment: str = Field(min_length=1, description="MLflow experiment name.")


def credentials_in_uri(uri: str) -> str | None:
    """What in `uri` looks like a credential (a password or token), or None when nothing does."""
    parts = urlsplit(uri)
    if parts.password:
        return "a password in the address"
    secret = {"password", "passwd", "token", "secret", "key", "sig", "signature", "access_key"}
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in secret or name.lower().endswith(("token", "secret", "password")):
            return f"the query parameter {name!r}"
    return None


SECRET_ERROR = "secret_in_value"


class TrackingParams(_Section):
    """Where MLflow runs and the registry live, when MLFLOW_TRACKING_URI does not say."""

    uri: str | None = Field(
        default=None,
        description="MLflow tracking (and registry) URI, without credentials; "
        "MLFLOW_TRACKING_URI overrides it; none = SQLite `mlflow.db` in the project root.",
    )

    @field_validator("uri")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        if uri is None:
            return None
        if "://" not in uri:
            raise ValueError("expected a URI such as http://host:5000 or sqlite:///mlflow.db")
        found = credentials_in_uri(uri)
        if found:
            # Its own error type, so that the message never repeats the value (a secret).
            raise PydanticCustomError(
                SECRET_ERROR,
                f"holds {found}: credentials go in MLFLOW_TRACKING_USERNAME/PASSWORD or "
                "MLFLOW_TRACKING_TOKEN (CI secrets), never in params.yaml",
            )
        return uri


class RegistryParams(_Section):
    """The MLflow Model Registry entry that promotion writes and serving reads."""

    # Also the GTO artifact name in git tags, hence GTO's stricter alphabet (no dots).
    model_name: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$",
        description="Registered model name (letters, digits, '-', '_').",
    )
    metric: MetricName = Field(
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


class GatesParams(_Section):
    """The quality gate of pull requests; `report` reads it from the base revision."""

    floors: dict[MetricName, float] = Field(
        default_factory=dict,
        description="Worst acceptable value per metric: a minimum, or a maximum for "
        "lower-is-better metrics (log_loss, brier).",
    )
    max_drop: dict[MetricName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Largest allowed worsening versus the base per metric, in the metric's "
        "units; counted only when the change is beyond noise.",
    )
    must_improve: MetricName | None = Field(
        default=None, description="A metric that must improve beyond noise; none = no such rule."
    )
    slice_max_drop: dict[MetricName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Largest allowed worsening in any slice of `evaluate.slices` per metric, "
        "counted only when the slice's change is beyond noise.",
    )
    noise_z: float = Field(
        default=1.96,
        gt=0,
        description="A change is beyond noise when |change| > noise_z × its standard error: "
        "of the paired difference on the rows both sides held out, else of both sides' errors "
        "combined, sqrt(se_base² + se_branch²).",
    )


class ServeParams(_Section):
    """Online serving and batch scoring: decision threshold, request limits, champion polling."""

    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Probability at or above which a record is positive; none = the one "
        "stored with the registered version (evaluate's when it was promoted), or evaluate's "
        "for a model file.",
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
    engine: Literal["auto", "sklearn"] = Field(
        default="auto",
        description="auto: score with the compiled model when it converts and passes the "
        "fidelity check, else scikit-learn; sklearn: always scikit-learn.",
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
    performance_metric: MetricName = Field(
        default="roc_auc", description="Metric compared with the reference when labels exist."
    )
    max_performance_drop: float = Field(
        default=0.05,
        ge=0,
        description="Largest worsening of `performance_metric` against the reference metrics.",
    )


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
    data: DataParams = Field(description="The raw data; read by the `prepare` stage.")
    train: TrainParams = Field(description="The model; read by the `train` stage.")
    evaluate: EvaluateParams = Field(description="Scoring; read by the `evaluate` stage.")
    mlflow: MlflowParams = Field(
        description="MLflow experiment; read by the `evaluate` stage, which logs the run."
    )
    registry: RegistryParams = Field(
        description="Registered model and promotion rule; read by `promote`, `rollback`, "
        "`registry`, `serve` and `predict`."
    )
    gates: GatesParams = Field(
        description="Quality gate; read by `report` (from the base revision) and `promote`."
    )
    # Optional sections: a project that does not serve or monitor needs none; defaults are sane.
    monitor: MonitorParams = Field(
        default_factory=MonitorParams, description="Drift thresholds; read by `monitor`."
    )
    serve: ServeParams = Field(
        default_factory=ServeParams,
        description="Serving limits; read by `serve` and `predict`.",
    )
    tracking: TrackingParams = Field(
        default_factory=TrackingParams,
        description="Tracking server of the project; read by every command that uses MLflow "
        "(MLFLOW_TRACKING_URI wins).",
    )
    tune: TuneParams | None = Field(
        default=None,
        description="Hyperparameter search; read by the optional `tune` stage only.",
    )

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


def problems(error: ValidationError, section: str = "") -> list[str]:
    """Each problem of a validation error as "key: message", keys under `section` if given
    (a section validated apart from its file, e.g. a base revision's `gates`)."""
    out = []
    for err in error.errors():
        loc = [str(part) for part in err["loc"] if part != "[key]"]
        key = ".".join([section, *loc] if section else loc) or "(top level)"
        out.append(f"{key}: {err['msg'].removeprefix('Value error, ')}")
    return out


def _describe(error: ValidationError, where: str) -> str:
    lines = [f"{where}: invalid parameters"]
    for err in error.errors():
        # A dict key's error is located at "<key>.[key]": the key alone names it.
        loc = ".".join(str(part) for part in err["loc"] if part != "[key]") or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key")
        elif err["type"] == "missing":
            lines.append(f"  {loc}: required key is missing")
        else:
            got = err.get("input")
            secret = err["type"] == SECRET_ERROR
            shown = f" (got {got!r})" if not (isinstance(got, dict | list) or secret) else ""
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {message}{shown}")
    return "\n".join(lines)


def parse_params(text: str, where: str) -> Params:
    """Parse and validate the text of a params file; ParamsError naming `where` and the key."""
    raw = parse_yaml(text, where)
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_describe(exc, where)) from None


def read_params_text(path: Path) -> str:
    """The text of a params file; ParamsError when it is missing or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParamsError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; save the file "
            "as UTF-8 text"
        ) from None


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read and validate params.yaml; raise ParamsError naming the key on any problem."""
    return parse_params(read_params_text(path), str(path))
