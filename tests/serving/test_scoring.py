"""The compiled scoring path: it scores as scikit-learn does, or scikit-learn scores instead.

Fidelity is checked for every model `train.model.type` can build, on the test split of the
project's data and of generated datasets unlike it, and on serving-like records (unseen
categories, missing values, extreme numbers, values at the trees' thresholds).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from gitops_ml.core.dataset import prepare
from gitops_ml.core.encoding import NotConvertibleError, encoding_of
from gitops_ml.core.model import build_pipeline, features
from gitops_ml.core.params import Params, TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.model_source import LoadedModel, ModelInfo
from gitops_ml.infra.tables import read_table
from gitops_ml.serving import scoring
from gitops_ml.serving.records import columns_from_records, model_input
from gitops_ml.serving.scoring import FIDELITY, Scorer

from ..support import datasets

MODELS: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {"type": "hist_gradient_boosting", "max_iter": 40},
    "random_forest": {"type": "random_forest", "n_estimators": 30, "max_depth": 8},
    "logistic_regression": {"type": "logistic_regression"},
}


def _fit(train: pd.DataFrame, schema: FeatureSchema, model: dict[str, Any]) -> Any:
    pipeline = build_pipeline(schema, TrainParams.model_validate({"model": model}), seed=3)
    with threadpool_limits(limits=1):
        return pipeline.fit(features(train, schema), train[schema.target])


def _loaded(pipeline: Any, schema: FeatureSchema, sha256: str | None = "0" * 64) -> LoadedModel:
    return LoadedModel(pipeline, schema, ModelInfo("m", "1", "m.skops", None, None), sha256)


def _same(compiled: Scorer, pipeline: Any, frame: pd.DataFrame, threshold: float) -> None:
    got = compiled.proba(frame)
    want = pipeline.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(got, want, rtol=0, atol=FIDELITY)
    np.testing.assert_array_equal(got >= threshold, want >= threshold)


@pytest.fixture(scope="module")
def project_split(params: Params, raw_frame: pd.DataFrame) -> tuple[Any, ...]:
    """The project's data, split by prepare."""
    table = read_table(Path(params.data.raw), text=[params.data.target])
    return prepare(table, params.data, params.seed)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_model_type_compiles_and_scores_the_test_split_as_sklearn(
    project_split: tuple[Any, ...], kind: str, params: Params
) -> None:
    """Each model type gets a compiled scorer that passes the load-time fidelity check and
    matches scikit-learn on the whole test split and on serving-like probes."""
    train, test, schema = project_split
    pipeline = _fit(train, schema, MODELS[kind])
    scorer = scoring.choose(_loaded(pipeline, schema, None), params.evaluate.threshold)
    assert scorer.compiled, scorer.reason
    assert scorer.engine == (scoring.LINEAR if kind == "logistic_regression" else scoring.COMPILED)
    _same(scorer, pipeline, model_input(features(test, schema), schema), params.evaluate.threshold)
    probes = scoring.probes(pipeline, schema)
    reference = scoring.sklearn_scorer(pipeline, schema, "")
    assert scoring.mismatch(scorer, reference, probes, params.evaluate.threshold) is None


@pytest.mark.parametrize("spec", datasets.SPECS, ids=lambda s: s.name)
def test_generated_datasets_score_alike_on_both_paths(spec: datasets.Spec, tmp_path: Path) -> None:
    """On datasets unlike the example (missing values every way, numbers as text, rare
    positives, many categories), the compiled trees score the test split as scikit-learn."""
    train, test, schema = datasets.prepared(spec, tmp_path, 1000)
    for kind in ("hist_gradient_boosting", "random_forest"):
        pipeline = _fit(train, schema, MODELS[kind])
        scorer = scoring.choose(_loaded(pipeline, schema, None), 0.5)
        assert scorer.compiled, f"{kind}: {scorer.reason}"
        _same(scorer, pipeline, model_input(features(test, schema), schema), 0.5)


def test_serving_like_records_score_alike(trained: Any) -> None:
    """Unseen categories, missing values and extreme numbers sent as records score as the
    pipeline scores the same records."""
    schema = trained.schema
    base = trained.records(1)[0]
    number, category = schema.numeric[0], schema.categorical[0]
    records = [
        {**base, category: "a category nobody has seen"},
        {**base, number: None, category: None},
        {**base, number: 1e300},
        {**base, number: -1e300},
        {**base, **dict.fromkeys(schema.numeric), **dict.fromkeys(schema.categorical)},
    ]
    scorer = scoring.choose(_loaded(trained.pipeline, schema), 0.5)
    assert scorer.compiled
    columns = columns_from_records(records, schema)
    got = scorer.proba(columns)
    want = scoring.sklearn_scorer(trained.pipeline, schema, "").proba(columns)
    np.testing.assert_allclose(got, want, rtol=0, atol=FIDELITY)
    assert len(set(np.round(got, 12))) > 1  # the records do score differently


def test_the_setting_forces_scikit_learn(trained: Any) -> None:
    """serve.engine sklearn scores with the pipeline itself, and says so."""
    scorer = scoring.choose(_loaded(trained.pipeline, trained.schema), 0.5, engine="sklearn")
    assert scorer.engine == scoring.SKLEARN
    assert scorer.reason == scoring.FORCED


def test_a_pipeline_it_cannot_convert_falls_back_with_the_reason(trained: Any) -> None:
    """Preprocessing the compiled path does not reproduce is scored by scikit-learn, and the
    reason names what could not be converted."""
    pipeline = build_pipeline(trained.schema, trained.params.train, seed=0)
    numeric = pipeline.steps[0][1].transformers[0][1]
    numeric.steps[-1] = ("standardscaler", StandardScaler(with_mean=False))
    numeric.steps.insert(1, ("again", StandardScaler()))
    train = trained.test  # any labelled rows will do
    with threadpool_limits(limits=1):
        pipeline.fit(features(train, trained.schema), train[trained.schema.target])
    with pytest.raises(NotConvertibleError, match="imputer \\+ scaler"):
        encoding_of(pipeline, trained.schema)
    scorer = scoring.choose(_loaded(pipeline, trained.schema, None), 0.5)
    assert scorer.engine == scoring.SKLEARN
    assert scorer.reason.startswith("not convertible: numeric preprocessing")
    frame = model_input(features(trained.test, trained.schema), trained.schema)
    np.testing.assert_array_equal(scorer.proba(frame), pipeline.predict_proba(frame)[:, 1])


def test_a_compiled_path_that_fails_the_check_is_not_used(
    trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled scorer whose probabilities drift beyond FIDELITY is refused at load."""
    real = scoring.derive

    def drifting(pipeline: Any, schema: FeatureSchema) -> Scorer:
        good = real(pipeline, schema)
        return replace(good, proba=lambda columns: good.proba(columns) + 3 * FIDELITY)

    monkeypatch.setattr(scoring, "derive", drifting)
    scorer = scoring.choose(_loaded(trained.pipeline, trained.schema, None), 0.5)
    assert scorer.engine == scoring.SKLEARN
    assert scorer.reason.startswith("fidelity check failed: probabilities differ")


def test_a_label_on_the_other_side_of_the_threshold_fails_the_check(trained: Any) -> None:
    """Probabilities within FIDELITY still fail when one crosses the threshold."""
    schema = trained.schema
    reference = scoring.sklearn_scorer(trained.pipeline, schema, "")
    frame = model_input(features(trained.test, schema).head(50), schema)
    cut = float(reference.proba(frame)[0])
    nudged = Scorer("test", "", lambda columns: reference.proba(columns) - FIDELITY / 2)
    assert "label(s) differ" in str(scoring.mismatch(nudged, reference, frame, cut))


def test_a_derived_scorer_is_cached_by_the_model_file_hash(trained: Any) -> None:
    """Loading the same file again reuses its compiled form; another hash derives anew."""
    first = scoring.choose(_loaded(trained.pipeline, trained.schema, "a" * 64), 0.5)
    again = scoring.choose(_loaded(trained.pipeline, trained.schema, "a" * 64), 0.5)
    other = scoring.choose(_loaded(trained.pipeline, trained.schema, "b" * 64), 0.5)
    assert again is first
    assert other is not first
    assert other.engine == first.engine == scoring.COMPILED


def test_categories_as_text_or_as_category_encode_alike(trained: Any) -> None:
    """Batch scoring hands the compiled path `category` columns: the same matrix as text,
    unseen and missing values included."""
    schema = trained.schema
    frame = features(trained.test, schema).head(200).copy()
    category = schema.categorical[0]
    frame[category] = frame[category].astype(object)
    frame.iloc[0, frame.columns.get_loc(category)] = "a category nobody has seen"
    frame.iloc[1, frame.columns.get_loc(category)] = np.nan
    encoding = encoding_of(trained.pipeline, schema)
    as_text = encoding.matrix(model_input(frame, schema))
    as_category = encoding.matrix(model_input(frame, schema, text=False))
    np.testing.assert_array_equal(as_category, as_text)
    assert as_text[:2].sum() > 0  # the rows are encoded, not left empty


def test_a_category_column_as_read_from_a_file_encodes_as_its_labels(trained: Any) -> None:
    """A `category` column as a file's dictionary gives it (padded, blank, unseen, missing
    values among its categories) goes to the compiled path as it is: its categories are
    labelled once each, to the matrix the labelled text gives."""
    schema = trained.schema
    frame = features(trained.test, schema).head(200).copy()
    for col in schema.categorical:
        known = sorted(frame[col].dropna().unique())
        messy = [f"  {known[0]} ", "", "   ", "a category nobody has seen", np.nan, known[-1]]
        frame[col] = [messy[i % len(messy)] for i in range(len(frame))]
    raw = frame.copy()
    for col in schema.categorical:
        raw[col] = raw[col].astype("category")
    encoding = encoding_of(trained.pipeline, schema)
    as_text = encoding.matrix(model_input(frame, schema))
    as_read = encoding.matrix(model_input(raw, schema, text=False))
    np.testing.assert_array_equal(as_read, as_text)
    first = len(encoding.numeric)
    # A padded value is its category; blank and missing take the imputer's fill alike.
    blocks = as_text[:, first:]
    assert blocks[0].sum() == len(schema.categorical)
    assert blocks[1].tolist() == blocks[2].tolist() == blocks[4].tolist()
