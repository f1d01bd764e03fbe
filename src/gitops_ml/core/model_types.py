"""The classes a fitted model of `core.model` holds, by name: what model files may hold.

Model files load through an exact allow-list (`infra/model_files.py`): these classes, each
through the one skops loader that rebuilds it, plus numpy arrays and Python containers. The
classes are named here rather than imported, so the list needs no scikit-learn: `track`, which
only checks a model file and logs it to MLflow, runs without importing it (~90 MB, ~0.6 s).

An estimator added to `core.model.build_estimator` gets its entry in ESTIMATORS in the same
change: a test fits each `train.model.type`, and names any class its saved file holds that is not
listed here (and any listed class no model holds).
"""

from __future__ import annotations

# What every model holds: the preprocessing of `core.model.build_pipeline`.
PREPROCESSING = (
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
)
# Per `train.model.type`, the estimator and the classes its fitted state keeps (trees, binning,
# loss), as `module.qualname`.
ESTIMATORS: dict[str, tuple[str, ...]] = {
    "logistic_regression": ("sklearn.linear_model._logistic.LogisticRegression",),
    "random_forest": (
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
    ),
    "hist_gradient_boosting": (
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
    ),
}
# skops rebuilds scikit-learn's Cython trees and losses through their constructors, with loaders
# of their own; every other class from its state (ObjectNode). A test holds this to the classes.
CONSTRUCTED_BY = {
    "sklearn.tree._tree.Tree": "TreeNode",
    "sklearn._loss._loss.CyHalfBinomialLoss": "LossNode",
}


def model_types() -> frozenset[tuple[str, str]]:
    """Every (skops loader, class name) pair a model of any `train.model.type` may hold."""
    names = {*PREPROCESSING, *(name for names in ESTIMATORS.values() for name in names)}
    return frozenset((CONSTRUCTED_BY.get(name, "ObjectNode"), name) for name in names)
