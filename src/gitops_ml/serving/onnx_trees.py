"""Tree ensembles as ONNX graphs in float64: the compiled form of the template's tree models.

Each fitted tree becomes part of one ai.onnx.ml `TreeEnsemble` node (opset 5), with the
thresholds and leaf values as float64 tensors and a float64 input: ONNX Runtime then compares
and sums exactly as scikit-learn does, up to the order of the additions (about 1e-15).
skl2onnx was measured and not used: with scikit-learn 1.9 it fails on HistGradientBoosting,
it lowers thresholds to float32, and it refuses the string imputer of missing values
(docs/serving.md, "Which path scores").

The encoding imputes every missing value before the trees (`core.encoding`), so no NaN ever
reaches them: the graph leaves out the trees' branches for missing values, which lets ONNX
Runtime walk each tree with a plain comparison per node.

A graph is protobuf data: loading one runs no code from it, unlike a pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from gitops_ml.core.encoding import NotConvertibleError

INPUT, OUTPUT = "X", "raw"
_SUM, _AVERAGE = 1, 0  # TreeEnsemble's aggregate_function
_BRANCH_LEQ = 0  # TreeEnsemble's nodes_modes: go to the true branch when x <= split


@dataclass(frozen=True)
class TreeModel:
    """A converted ensemble: its graph and how its output becomes a probability."""

    graph: bytes
    # The raw sum goes through the logistic function (gradient boosting) or is the
    # probability already (a forest's average of leaf fractions).
    link: Literal["logistic", "identity"]
    base: float  # added to the raw output before the link
    # scikit-learn's decision trees read their input as float32: the graph gets it rounded so.
    float32_input: bool


@dataclass
class _Ensemble:
    """The arrays of a TreeEnsemble node, filled tree by tree."""

    features: list[int]
    splits: list[float]
    true_ids: list[int]
    true_leaf: list[int]
    false_ids: list[int]
    false_leaf: list[int]
    roots: list[int]
    leaves: list[float]

    @classmethod
    def empty(cls) -> _Ensemble:
        return cls([], [], [], [], [], [], [], [])

    def add_tree(
        self,
        left: np.ndarray,
        right: np.ndarray,
        is_leaf: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        value: np.ndarray,
    ) -> None:
        """Append one tree given per node: children, leaf flag, split and leaf value."""
        inner: dict[int, int] = {}
        leaf: dict[int, int] = {}
        for i in range(len(is_leaf)):
            if is_leaf[i]:
                leaf[i] = len(self.leaves) + len(leaf)
            else:
                inner[i] = len(self.features) + len(inner)
        if not inner:  # a one-leaf tree: a split whose branches both reach the leaf
            self.roots.append(len(self.features))
            self._node(0, 0.0, (leaf[0], 1), (leaf[0], 1))
        else:
            self.roots.append(inner[0])
        for i in range(len(is_leaf)):
            if is_leaf[i]:
                continue
            lo, hi = int(left[i]), int(right[i])
            self._node(
                int(feature[i]),
                float(threshold[i]),
                (leaf[lo], 1) if lo in leaf else (inner[lo], 0),
                (leaf[hi], 1) if hi in leaf else (inner[hi], 0),
            )
        self.leaves.extend(float(value[i]) for i in range(len(is_leaf)) if is_leaf[i])

    def _node(self, feature: int, split: float, yes: tuple[int, int], no: tuple[int, int]) -> None:
        self.features.append(feature)
        self.splits.append(split)
        self.true_ids.append(yes[0])
        self.true_leaf.append(yes[1])
        self.false_ids.append(no[0])
        self.false_leaf.append(no[1])

    def graph(self, width: int, aggregate: int) -> bytes:
        """The serialized ONNX model: float64 matrix of `width` columns in, one column out."""
        node = helper.make_node(
            "TreeEnsemble",
            [INPUT],
            [OUTPUT],
            domain="ai.onnx.ml",
            n_targets=1,
            aggregate_function=aggregate,
            post_transform=0,
            tree_roots=self.roots,
            nodes_featureids=self.features,
            nodes_splits=numpy_helper.from_array(np.array(self.splits, dtype=np.float64)),
            nodes_modes=numpy_helper.from_array(
                np.full(len(self.features), _BRANCH_LEQ, dtype=np.uint8)
            ),
            nodes_truenodeids=self.true_ids,
            nodes_trueleafs=self.true_leaf,
            nodes_falsenodeids=self.false_ids,
            nodes_falseleafs=self.false_leaf,
            leaf_targetids=[0] * len(self.leaves),
            leaf_weights=numpy_helper.from_array(np.array(self.leaves, dtype=np.float64)),
        )
        graph = helper.make_graph(
            [node],
            "gitops_ml_trees",
            [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [None, width])],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None, 1])],
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
            ir_version=10,
        )
        return bytes(model.SerializeToString())


def _gradient_boosting(model: HistGradientBoostingClassifier) -> TreeModel:
    if model.n_trees_per_iteration_ != 1:
        raise NotConvertibleError("gradient boosting with more than two classes")
    ensemble = _Ensemble.empty()
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise NotConvertibleError("gradient boosting with native categorical splits")
        ensemble.add_tree(
            nodes["left"],
            nodes["right"],
            nodes["is_leaf"],
            nodes["feature_idx"],
            nodes["num_threshold"],
            nodes["value"],
        )
    base = float(np.asarray(model._baseline_prediction).ravel()[0])
    return TreeModel(ensemble.graph(model.n_features_in_, _SUM), "logistic", base, False)


def _forest(model: RandomForestClassifier) -> TreeModel:
    if len(model.classes_) != 2:
        raise NotConvertibleError("a forest with more than two classes")
    ensemble = _Ensemble.empty()
    for estimator in model.estimators_:
        tree = estimator.tree_
        counts = tree.value[:, 0, :]
        total = counts.sum(axis=1)
        # The positive class's share of each leaf, normalised as predict_proba does.
        share = np.divide(counts[:, 1], total, out=np.zeros(len(total)), where=total > 0)
        ensemble.add_tree(
            tree.children_left,
            tree.children_right,
            tree.children_left == -1,
            tree.feature,
            tree.threshold,
            share,
        )
    return TreeModel(ensemble.graph(model.n_features_in_, _AVERAGE), "identity", 0.0, True)


def convert(estimator: Any) -> TreeModel:
    """The ONNX form of a fitted tree ensemble; NotConvertibleError for any other estimator."""
    if isinstance(estimator, HistGradientBoostingClassifier):
        return _gradient_boosting(estimator)
    if isinstance(estimator, RandomForestClassifier):
        return _forest(estimator)
    raise NotConvertibleError(f"no tree ensemble: {type(estimator).__name__}")
