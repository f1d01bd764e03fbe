"""The baseline for `make bench`: the pipeline's work as one bare script, no DVC, no MLflow.

Reads the raw CSV or Parquet file (Parquet text as `category`, as prepare reads it), strips
text and blanks, splits, fits the same model (same preprocessing, float32 one-hot, same
estimator and seed), and computes the same metrics,
bootstrap errors, curves, permutation importance, held-out predictions and PNG plots as
`dvc repro`, in one process,
with the same row caps as gitops-ml evaluate above 50,000 / 10,000 test rows, so both sides do
the same work at every size. Usage: python bare_pipeline.py RAW OUT_DIR [TARGET POSITIVE_LABEL]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.figure import Figure
from sklearn import metrics as m
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

BOOTSTRAP_MAX_ROWS = 50_000  # as gitops_ml.core.metrics
IMPORTANCE_MAX_ROWS = 10_000
PREDICTIONS_MAX_ROWS = 20_000  # as gitops_ml.core.predictions


def read(raw: Path) -> pd.DataFrame:
    """The raw table; Parquet text columns as `category` (codes plus one copy of each label)."""
    if raw.suffix != ".parquet":
        return pd.read_csv(raw)
    text = [
        f.name
        for f in pq.read_schema(raw)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    return pd.read_parquet(raw, read_dictionary=text)


def main() -> None:
    """Run the bare pipeline end to end."""
    raw, out = Path(sys.argv[1]), Path(sys.argv[2])
    target, positive = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("churn", "Yes")
    out.mkdir(parents=True, exist_ok=True)
    frame = read(raw)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            # Strip the labels, not every row; a blank label becomes missing.
            labels = frame[col].cat.categories.str.strip()
            frame[col] = (
                frame[col]
                .cat.rename_categories(labels)
                .cat.remove_categories([""] if "" in labels else [])
            )
        elif not pd.api.types.is_numeric_dtype(frame[col]):
            text = frame[col].astype("str").str.strip()
            text = text.mask(text == "")
            numbers = pd.to_numeric(text, errors="coerce")
            # A text column of numbers with a few blanks (total_charges) is numeric.
            frame[col] = numbers if numbers.notna().sum() == text.notna().sum() else text
    y = (frame.pop(target).astype(str) == positive).astype(int).to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        frame, y, test_size=0.2, random_state=42, stratify=y
    )
    model = make_pipeline(
        ColumnTransformer(
            [
                (
                    "num",
                    make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                    make_column_selector(dtype_include="number"),
                ),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="(missing)"),
                        OneHotEncoder(
                            handle_unknown="ignore", sparse_output=False, dtype="float32"
                        ),
                    ),
                    make_column_selector(dtype_exclude="number"),
                ),
            ]
        ),
        HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=200,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=42,
        ),
    )
    model.fit(x_train, y_train)
    proba = model.predict_proba(x_test)[:, 1]

    def score(yy: np.ndarray, pp: np.ndarray) -> dict[str, float]:
        labels = pp >= 0.5
        return {
            "roc_auc": m.roc_auc_score(yy, pp),
            "average_precision": m.average_precision_score(yy, pp),
            "log_loss": m.log_loss(yy, pp, labels=[0, 1]),
            "brier": m.brier_score_loss(yy, pp),
            "f1": m.f1_score(yy, labels, zero_division=0),
            "precision": m.precision_score(yy, labels, zero_division=0),
            "recall": m.recall_score(yy, labels, zero_division=0),
            "accuracy": m.accuracy_score(yy, labels),
        }

    point = score(y_test, proba)
    n = len(y_test)
    yb, pb, factor = y_test, proba, 1.0
    if n > BOOTSTRAP_MAX_ROWS:
        keep = np.sort(np.random.default_rng(42).choice(n, BOOTSTRAP_MAX_ROWS, replace=False))
        yb, pb, factor = y_test[keep], proba[keep], np.sqrt(BOOTSTRAP_MAX_ROWS / n)
    rng = np.random.default_rng(42)
    boots = []
    for _ in range(200):
        idx = rng.integers(0, len(yb), len(yb))
        boots.append(score(yb[idx], pb[idx]))
    se = (pd.DataFrame(boots).std(ddof=1) * factor).to_dict()
    fpr, tpr, _ = m.roc_curve(y_test, proba)
    precision, recall, _ = m.precision_recall_curve(y_test, proba)
    observed, predicted = calibration_curve(y_test, proba, n_bins=10, strategy="quantile")
    xi, yi = x_test, y_test
    if n > IMPORTANCE_MAX_ROWS:
        keep = np.sort(np.random.default_rng(42).choice(n, IMPORTANCE_MAX_ROWS, replace=False))
        xi, yi = x_test.iloc[keep], y_test[keep]
    with threadpool_limits(limits=1):
        importance = permutation_importance(
            model, xi, yi, scoring="roc_auc", n_repeats=5, random_state=42
        )
    # The held-out predictions by row key, as evaluate writes them for the pull-request report's
    # paired comparison: a hash of each row, its label and score, the lowest keys when capped.
    keys = pd.util.hash_pandas_object(x_test, index=False).to_numpy()
    held_out = pd.DataFrame({"row": keys, "label": y_test, "score": proba}).sort_values("row")
    held_out.head(PREDICTIONS_MAX_ROWS).to_csv(out / "predictions.csv", index=False)
    (out / "metrics.json").write_text(
        json.dumps({**point, **{f"{k}_se": v for k, v in se.items()}}, indent=2)
    )
    charts = {
        "roc": (fpr, tpr),
        "prc": (recall, precision),
        "calibration": (predicted, observed),
    }
    for name, (xs, ys) in charts.items():
        fig = Figure(figsize=(5, 4))
        fig.add_subplot().plot(xs, ys)
        fig.savefig(out / f"{name}.png")
    fig = Figure(figsize=(5, 4))
    fig.add_subplot().imshow(m.confusion_matrix(y_test, proba >= 0.5))
    fig.savefig(out / "confusion.png")
    fig = Figure(figsize=(5, 4))
    fig.add_subplot().barh(list(x_test.columns), importance.importances_mean)
    fig.savefig(out / "importance.png")


if __name__ == "__main__":
    main()
