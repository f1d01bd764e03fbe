"""Which path scores a served model: compiled (numpy encoding + ONNX Runtime trees) or
scikit-learn, chosen at load, checked for fidelity, and said in `/metadata` and the log.

The skops file stays the artifact of record: promotion records its hash, and the compiled
form is derived from it in memory when a model loads (cached by the file's SHA-256, never
written anywhere). Before it serves, the compiled form scores serving-like probe records
(every known category, missing values, unseen categories, extreme numbers, values at the
trees' thresholds) and must give the labels scikit-learn gives and probabilities within
FIDELITY of them; when the model cannot be converted or fails that check, scikit-learn scores
it and the reason is reported. `serve.engine: sklearn` forces scikit-learn.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from gitops_ml.core.encoding import Columns, Encoding, NotConvertibleError, encoding_of
from gitops_ml.core.model import positive_proba
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.model_source import LoadedModel
from gitops_ml.serving import onnx_trees
from gitops_ml.serving.records import frame_from_columns

log = logging.getLogger("gitops_ml.serve")

COMPILED, LINEAR, SKLEARN = "onnxruntime", "numpy", "scikit-learn"
# Largest difference of a probability from scikit-learn's that the compiled path may show.
FIDELITY = 1e-5
PROBE_ROWS = 512
FORCED = "serve.engine is sklearn"
_CACHE_SIZE = 4  # a server holds one model and, while a new champion loads, a second


@dataclass(frozen=True)
class Scorer:
    """Positive-class probabilities of feature columns (a frame or a mapping of arrays)."""

    engine: str
    reason: str
    proba: Callable[[Columns], np.ndarray]

    @property
    def compiled(self) -> bool:
        """True when the compiled path scores (not scikit-learn's pipeline)."""
        return self.engine != SKLEARN


def sklearn_scorer(pipeline: Any, schema: FeatureSchema, reason: str) -> Scorer:
    """The fitted pipeline itself scores: the reference every other path is checked against."""

    def proba(columns: Columns) -> np.ndarray:
        if isinstance(columns, pd.DataFrame):
            return positive_proba(pipeline, columns)
        return positive_proba(pipeline, frame_from_columns(columns, schema))

    return Scorer(SKLEARN, reason, proba)


def _session(graph: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread: requests are scored one batch at a time, and batch scoring is measured
    # (and budgeted) single-threaded like scikit-learn's; threads fight on shared CPUs.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _tree_scorer(encoding: Encoding, estimator: Any) -> Scorer:
    model = onnx_trees.convert(estimator)
    session = _session(model.graph)

    def proba(columns: Columns) -> np.ndarray:
        x = encoding.matrix(columns)
        if model.float32_input:
            x = x.astype(np.float32).astype(np.float64)
        (raw,) = session.run([onnx_trees.OUTPUT], {onnx_trees.INPUT: x})
        out = np.asarray(raw, dtype=np.float64)[:, 0]
        return np.asarray(expit(out + model.base)) if model.link == "logistic" else out

    return Scorer(COMPILED, f"{type(estimator).__name__} compiled to ONNX", proba)


def _linear_scorer(encoding: Encoding, estimator: LogisticRegression) -> Scorer:
    if estimator.coef_.shape[0] != 1:
        raise NotConvertibleError("a logistic regression with more than two classes")
    coef = np.ascontiguousarray(estimator.coef_[0], dtype=np.float64)
    intercept = float(estimator.intercept_[0])

    def proba(columns: Columns) -> np.ndarray:
        return np.asarray(expit(encoding.matrix(columns) @ coef + intercept))

    # A dot product is the whole model: numpy computes it without ONNX Runtime.
    return Scorer(LINEAR, "LogisticRegression as one dot product", proba)


def derive(pipeline: Any, schema: FeatureSchema) -> Scorer:
    """The compiled scorer of a fitted pipeline; NotConvertibleError when there is none."""
    encoding = encoding_of(pipeline, schema)
    estimator = pipeline.steps[-1][1]
    if isinstance(estimator, LogisticRegression):
        return _linear_scorer(encoding, estimator)
    return _tree_scorer(encoding, estimator)


def probes(pipeline: Any, schema: FeatureSchema, rows: int = PROBE_ROWS) -> dict[str, Any]:
    """Serving-like columns: every known category, missing and unseen values, numbers at the
    model's own fills, means and tree thresholds, and extreme numbers; seeded."""
    rng = np.random.default_rng(0)
    encoding = encoding_of(pipeline, schema)
    estimator = pipeline.steps[-1][1]
    cuts = _thresholds(estimator)
    # scikit-learn's decision trees refuse values beyond float32's range (so does the API's
    # scikit-learn path): the probes stay within what the reference can score.
    big = 1e30 if isinstance(estimator, RandomForestClassifier) else 1e300
    columns: dict[str, Any] = {}
    for j, num in enumerate(encoding.numeric):
        mean, scale = num.mean or 0.0, num.scale or 1.0
        at_cuts = [c * scale + mean for c in cuts.get(j, [])]
        numbers = [num.fill, mean, mean - 3 * scale, mean + 3 * scale, 0.0, -big, big, np.nan]
        columns[num.name] = _drawn(np.array([*numbers, *at_cuts], dtype=np.float64), rows, rng)
    for cat in encoding.categorical:
        texts: list[Any] = [*cat.categories, np.nan, f"unseen value of {cat.name}"]
        columns[cat.name] = _drawn(np.array(texts, dtype=object), rows, rng)
    return columns


def _drawn(pool: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    # Every value of the pool once, then seeded draws.
    return np.concatenate([pool, rng.choice(pool, size=max(rows - len(pool), 0))])[:rows]


def _thresholds(estimator: Any) -> dict[int, list[float]]:
    """Split thresholds by input column of a tree model (the sharpest test of comparisons)."""
    found: dict[int, set[float]] = {}
    for predictors in getattr(estimator, "_predictors", []):
        for predictor in predictors:
            for node in predictor.nodes[predictor.nodes["is_leaf"] == 0]:
                found.setdefault(int(node["feature_idx"]), set()).add(float(node["num_threshold"]))
    for tree in getattr(estimator, "estimators_", []):
        nodes = tree.tree_
        inner = nodes.feature >= 0
        for feature, cut in zip(nodes.feature[inner], nodes.threshold[inner], strict=True):
            found.setdefault(int(feature), set()).add(float(cut))
    return {k: sorted(v)[:64] for k, v in found.items()}


def mismatch(compiled: Scorer, reference: Scorer, columns: Columns, threshold: float) -> str | None:
    """Why `compiled` does not reproduce `reference` on `columns`, or None when it does."""
    return disagreement(compiled.proba(columns), reference.proba(columns), threshold)


def disagreement(got: np.ndarray, want: np.ndarray, threshold: float) -> str | None:
    """How probabilities `got` differ from scikit-learn's `want` beyond FIDELITY or in a label
    at `threshold`; None when they agree."""
    if got.shape != want.shape or not np.isfinite(got).all():
        return "the compiled path gives no finite probability for some rows"
    worst = float(np.max(np.abs(got - want))) if len(got) else 0.0
    if worst > FIDELITY:
        return f"probabilities differ from scikit-learn's by up to {worst:.2g} (> {FIDELITY:g})"
    flipped = int(np.sum((got >= threshold) != (want >= threshold)))
    if flipped:
        return f"{flipped} label(s) differ from scikit-learn's at threshold {threshold:g}"
    return None


_CACHE: OrderedDict[tuple[str, float], Scorer] = OrderedDict()


def report(scorer: Scorer, what: str) -> None:
    """Log which path scores `what`: a line of information, or a warning for the fallback."""
    if scorer.compiled:
        log.info("%s: scored with %s (%s; fidelity checked)", what, scorer.engine, scorer.reason)
    elif scorer.reason == FORCED:
        log.info("%s: scored with scikit-learn (%s)", what, scorer.reason)
    else:
        log.warning("%s: scored with scikit-learn, the slower path: %s", what, scorer.reason)


def choose(model: LoadedModel, threshold: float, engine: str = "auto") -> Scorer:
    """The scorer a loaded model serves with, and why: compiled when it converts and passes
    the fidelity check at `threshold`, else scikit-learn; `engine` "sklearn" forces it."""
    schema, pipeline = model.schema, model.pipeline
    if engine == "sklearn":
        return sklearn_scorer(pipeline, schema, FORCED)
    key = (model.sha256, threshold) if model.sha256 else None
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    scorer = _checked(pipeline, schema, sklearn_scorer(pipeline, schema, ""), threshold)
    if key is not None:
        _CACHE[key] = scorer
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return scorer


def _checked(pipeline: Any, schema: FeatureSchema, reference: Scorer, threshold: float) -> Scorer:
    try:
        compiled = derive(pipeline, schema)
        why = mismatch(compiled, reference, probes(pipeline, schema), threshold)
    except NotConvertibleError as exc:
        return sklearn_scorer(pipeline, schema, f"not convertible: {exc}")
    except Exception as exc:  # a converter or runtime failure must not stop serving
        return sklearn_scorer(pipeline, schema, f"conversion failed: {type(exc).__name__}: {exc}")
    if why is not None:
        return sklearn_scorer(pipeline, schema, f"fidelity check failed: {why}")
    return compiled
