"""The optional tune stage: a validated search space, a real Dask cluster, a file train reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_ml.core.errors import ParamsError
from gitops_ml.core.params import Params, load_params
from gitops_ml.pipeline import prepare, tune

from ..conftest import ROOT, run

SPACE = {"learning_rate": [0.05, 0.2], "max_leaf_nodes": [7, 15]}


def _params_file(path: Path, **tune_section: Any) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["model"]["max_iter"] = 30  # small fits: the test is about where they run
    raw["tune"] = tune_section
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"learning_rate": [0.1, 2.0]}, "tune.space.learning_rate: candidate 2.0"),
        ({"n_neighbors": [3]}, "['n_neighbors'] are not hyperparameters of hist_gradient_boosting"),
        ({"max_leaf_nodes": []}, "no candidate values for ['max_leaf_nodes']"),
    ],
)
def test_a_bad_search_space_is_refused_at_load_time(
    tmp_path: Path, space: dict[str, list[Any]], expected: str
) -> None:
    """A candidate the model would reject, or an unknown hyperparameter, fails params loading."""
    path = _params_file(tmp_path / "params.yaml", space=space)
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_train_lays_the_tuned_values_over_its_params(params: Params, tmp_path: Path) -> None:
    """`with_tuned` replaces only the tuned hyperparameters and validates the result."""
    good = tmp_path / "tuned.yaml"
    good.write_text(tune.tuned_yaml({"learning_rate": 0.2, "max_leaf_nodes": 7}))
    tuned = tune.with_tuned(params, good)
    model = tuned.train.model.model_dump()
    assert model == {
        **params.train.model.model_dump(),
        "learning_rate": 0.2,
        "max_leaf_nodes": 7,
    }
    assert tuned.evaluate == params.evaluate

    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  max_leaf_nodes: 1\n")
    with pytest.raises(ParamsError, match=r"bad.yaml: invalid tuned .*model.max_leaf_nodes"):
        tune.with_tuned(params, bad)
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ParamsError, match=r"bad.yaml: not valid YAML"):
        tune.with_tuned(params, bad)
    with pytest.raises(ParamsError, match=r"absent.yaml: file not found; run the tune stage"):
        tune.with_tuned(params, tmp_path / "absent.yaml")


def _switched_on(text: str) -> str:
    """dvc.yaml with the tune stage switched on exactly as its comments say."""
    lines = text.splitlines()
    start = lines.index("  # tune:")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  #"))
    out = [*lines[:start], *(line[:2] + line[4:] for line in lines[start:end]), *lines[end:]]
    for i, line in enumerate(out):
        if line.strip() == "# - tuned/params.yaml:":
            out[i] = line.replace("# ", "", 1)
        elif "cmd: gitops-ml train " in line:
            out[i] = line + " --tuned tuned/params.yaml"
    return "\n".join(out) + "\n"


@pytest.mark.slow
def test_tune_runs_its_search_on_the_workers_of_a_dask_cluster(
    tmp_path: Path, tool_env: dict[str, str], params: Params
) -> None:
    """`gitops-ml tune` sends its fits to DASK_SCHEDULER_ADDRESS and writes the best for train."""
    from distributed import Client, LocalCluster

    params_path = _params_file(tmp_path / "params.yaml", space=SPACE, cv=2, search="grid")
    prepare.run(ROOT / params.data.raw, tmp_path / "prepared", params.data, params.seed)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        before = client.run(lambda dask_worker: dask_worker.state.executed_count)
        done = run(
            [
                "gitops-ml",
                "tune",
                "--prepared",
                str(tmp_path / "prepared"),
                "--out",
                str(tmp_path / "tuned"),
                "--params",
                str(params_path),
            ],
            tmp_path,
            {**tool_env, "DASK_SCHEDULER_ADDRESS": address},
        )
        after = client.run(lambda dask_worker: dask_worker.state.executed_count)
        nthreads = client.nthreads()

    # Both worker processes ran fits; none ran in the command's own process.
    assert len(after) == 2
    assert set(nthreads.values()) == {1}
    ran = {worker: after[worker] - before[worker] for worker in after}
    assert all(count > 0 for count in ran.values()), ran
    summary = json.loads((tmp_path / "tuned/search.json").read_text())
    assert (summary["candidates"], summary["workers"], summary["cv"]) == (4, 2, 2)
    best = yaml.safe_load((tmp_path / "tuned/params.yaml").read_text())["model"]
    assert set(best) == set(SPACE)
    assert all(best[name] in SPACE[name] for name in SPACE)
    assert 0.5 < summary["best_score"] <= 1
    assert summary["best"] == best
    assert "searched 4 candidates on 2 Dask workers" in done.stdout

    # The documented switch turns dvc.yaml into a valid pipeline where tune feeds train.
    work = tmp_path / "dvc"
    work.mkdir()
    (work / "dvc.yaml").write_text(_switched_on((ROOT / "dvc.yaml").read_text()))
    (work / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    run(["git", "init", "-q"], work, tool_env)
    run(["dvc", "init", "-q"], work, tool_env)
    stages = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    assert stages["tune"]["params"] == ["seed", "train", "tune"]
    assert {"tuned/params.yaml": None} in stages["train"]["params"]
    assert stages["train"]["cmd"].endswith("--tuned tuned/params.yaml")
    dag = run(["dvc", "dag", "--dot"], work, tool_env).stdout
    assert re.search(r'"tune"\s*->\s*"train"', dag), dag
