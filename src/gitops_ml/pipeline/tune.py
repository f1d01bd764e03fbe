"""The optional tune stage: search `train`'s hyperparameters on a Dask cluster.

scikit-learn's search (grid, random, or successive halving) fans its cross-validation fits out
through joblib's Dask backend, to the cluster at DASK_SCHEDULER_ADDRESS or, when that is unset,
to a local cluster of worker processes. The best hyperparameters go to a small YAML file that
the train stage reads with `--tuned` and lists as a params dependency, so DVC re-trains exactly
when the tuned values change and `dvc params diff` shows them in a pull request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from distributed import Client, LocalCluster
from joblib import parallel_backend  # type: ignore[import-untyped]
from pydantic import ValidationError

# The halving search is experimental in scikit-learn: importing this enables it.
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
)

from gitops_ml.core.errors import ParamsError, UserError
from gitops_ml.core.model import ESTIMATOR_STEP, build_pipeline, features
from gitops_ml.core.params import Params, TrainParams, TuneParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.yaml12 import parse_yaml
from gitops_ml.infra.files import write_json, write_text

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
_STEP = f"{ESTIMATOR_STEP}__"  # how scikit-learn prefixes the estimator's hyperparameters


@dataclass(frozen=True)
class Search:
    """What a search found, and where it ran."""

    best: dict[str, Any]
    best_score: float
    candidates: int
    scheduler: str
    workers: int

    def summary(self, tune: TuneParams) -> dict[str, Any]:
        """The search as a JSON-ready record."""
        return {
            "search": tune.search,
            "scoring": tune.scoring,
            "cv": tune.cv,
            "candidates": self.candidates,
            "best_score": round(self.best_score, 6),
            "best": self.best,
            "workers": self.workers,
        }


def make_search(pipeline: Any, tune: TuneParams, seed: int) -> Any:
    """The configured scikit-learn search over the pipeline's estimator, seeded."""
    space = {f"{_STEP}{name}": list(values) for name, values in tune.space.items()}
    folds = StratifiedKFold(n_splits=tune.cv, shuffle=True, random_state=seed)
    # n_jobs=-1 hands every fit to joblib, whose active backend (Dask here) decides where it runs.
    common: dict[str, Any] = {"scoring": tune.scoring, "cv": folds, "n_jobs": -1, "refit": False}
    if tune.search == "grid":
        return GridSearchCV(pipeline, space, **common)
    if tune.search == "random":
        return RandomizedSearchCV(pipeline, space, n_iter=tune.n_iter, random_state=seed, **common)
    return HalvingRandomSearchCV(
        pipeline, space, n_candidates=tune.n_iter, random_state=seed, **common
    )


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows of `frame`, a seeded sample in the original order."""
    if len(frame) <= max_rows:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[keep]


@contextmanager
def dask_client(workers: int | None) -> Iterator[Client]:
    """A client of DASK_SCHEDULER_ADDRESS's cluster, or of a local cluster of processes."""
    address = os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            client = Client(address, timeout="30s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise UserError(
                f"{SCHEDULER_ENV}={address}: cannot reach the scheduler: {exc}"
            ) from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # One thread per worker process: sklearn fits hold the GIL in places, processes do not share it.
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def search(train: pd.DataFrame, schema: FeatureSchema, params: Params, client: Client) -> Search:
    """Run the configured search on the client's cluster; the best candidate's hyperparameters."""
    tune = _tune(params)
    rows = sample_rows(train, tune.max_rows, params.seed)
    searcher = make_search(build_pipeline(schema, params.train, params.seed), tune, params.seed)
    with parallel_backend("dask", wait_for_workers_timeout=60):
        searcher.fit(features(rows, schema), rows[schema.target])
    best = {key.removeprefix(_STEP): _plain(value) for key, value in searcher.best_params_.items()}
    return Search(
        best=best,
        best_score=float(searcher.best_score_),
        candidates=len(searcher.cv_results_["params"]),
        scheduler=str(client.scheduler.address) if client.scheduler else "",
        workers=len(client.scheduler_info()["workers"]),
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _tune(params: Params) -> TuneParams:
    if params.tune is None:
        raise ParamsError("params.yaml: the tune stage needs a `tune` section (see docs/tuning.md)")
    return params.tune


def tuned_yaml(best: dict[str, Any]) -> str:
    """The file `train --tuned` reads: the best hyperparameters of `train.model`."""
    header = (
        "# Written by `gitops-ml tune` (dvc stage `tune`); do not edit.\n"
        "# `gitops-ml train --tuned` lays these over train.model in params.yaml.\n"
    )
    return header + yaml.safe_dump({"model": best}, sort_keys=True)


def with_tuned(params: Params, path: Path) -> Params:
    """`params` with train.model's hyperparameters replaced by those in a tuned file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found; run the tune stage first") from None
    raw = parse_yaml(text, str(path))  # as DVC reads it: a params dependency of train
    if not isinstance(raw, dict) or set(raw) != {"model"} or not isinstance(raw["model"], dict):
        raise ParamsError(f"{path}: expected one key `model` holding hyperparameters")
    merged = {
        **params.train.model_dump(),
        "model": {**params.train.model.model_dump(), **raw["model"]},
    }
    if merged["model"]["type"] != params.train.model.type:
        raise ParamsError(
            f"{path}: model.type must not change (params.yaml has {params.train.model.type!r})"
        )
    try:
        train = TrainParams.model_validate(merged)
    except ValidationError as exc:
        # Drop the union's tag from locations: "model.max_leaf_nodes", not "model.<type>.…".
        kind = params.train.model.type
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != kind)}: {err['msg']}"
            for err in exc.errors()
        )
        raise ParamsError(f"{path}: invalid tuned hyperparameters: {where}") from None
    return params.model_copy(update={"train": train})


def run(prepared: Path, out_dir: Path, params: Params) -> Search:
    """Search on `prepared/train.parquet`; write `out_dir/params.yaml` and `out_dir/search.json`."""
    tune = _tune(params)
    schema = FeatureSchema.read(prepared / "schema.json")
    train = pd.read_parquet(prepared / "train.parquet")
    with dask_client(tune.workers) as client:
        found = search(train, schema, params, client)
    write_text(out_dir / "params.yaml", tuned_yaml(found.best))
    write_json(out_dir / "search.json", found.summary(tune))
    return found
