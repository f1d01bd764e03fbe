"""params.yaml is validated: clear errors naming the key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gitops_ml.core.errors import ParamsError
from gitops_ml.core.params import HistGradientBoostingParams, load_params

from ..conftest import ROOT


def _write(tmp_path: Path, mutate: dict[str, object]) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in mutate.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_project_params_load() -> None:
    """It loads the shipped params.yaml into typed sections."""
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params.train.model, HistGradientBoostingParams)
    shipped = yaml.safe_load((ROOT / "params.yaml").read_text())["data"]
    assert (params.data.raw, params.data.target) == (shipped["raw"], shipped["target"])
    assert params.data.positive_label == str(shipped["positive_label"])
    assert 0 < params.data.test_size < 1


def test_unknown_key_is_named(tmp_path: Path) -> None:
    """It rejects an unknown key and names its full path."""
    path = _write(tmp_path, {"train.model.learning_rat": 0.1})
    with pytest.raises(
        ParamsError, match=r"train\.model\.hist_gradient_boosting\.learning_rat: unknown key"
    ):
        load_params(path)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    """It rejects a value of the wrong type and says what was expected."""
    path = _write(tmp_path, {"evaluate.bootstrap": "many"})
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert "evaluate.bootstrap" in str(err.value)
    assert "valid integer" in str(err.value)
    assert "'many'" in str(err.value)


def test_a_bootstrap_count_that_would_run_for_hours_is_refused(tmp_path: Path) -> None:
    """The resamples are bounded: a typo of a few zeros is an error, not a stage that hangs."""
    assert (
        load_params(_write(tmp_path, {"evaluate.bootstrap": 10_000})).evaluate.bootstrap == 10_000
    )
    with pytest.raises(ParamsError) as err:
        load_params(_write(tmp_path, {"evaluate.bootstrap": 2_000_000}))
    assert "evaluate.bootstrap" in str(err.value)
    assert "10000" in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("gates.floors", {"auc": 0.7}, "gates.floors.auc"),
        ("gates.must_improve", "auc", "gates.must_improve"),
        ("registry.metric", "auc", "registry.metric"),
        ("monitor.performance_metric", "auc", "monitor.performance_metric"),
    ],
)
def test_every_metric_name_is_checked_against_the_evaluate_stage(
    tmp_path: Path, key: str, value: object, where: str
) -> None:
    """A gate, promotion or monitor rule on a metric that evaluate never computes is refused."""
    with pytest.raises(ParamsError) as err:
        load_params(_write(tmp_path, {key: value}))
    assert f"{where}: unknown metric 'auc'; expected one of ['roc_auc'" in str(err.value)


def test_params_read_as_dvc_writes_them(tmp_path: Path) -> None:
    """It reads YAML 1.2 like DVC: `dvc exp run -S` leaves `Yes` unquoted, and it stays a string."""
    shipped = (ROOT / "params.yaml").read_text()
    text = re.sub(r"(?m)^  positive_label: .*$", "  positive_label: Yes", shipped)
    assert "  positive_label: Yes\n" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert load_params(path).data.positive_label == "Yes"


def test_problems_name_each_key_under_its_section() -> None:
    """A section validated apart from its file names its keys as params.yaml spells them: a
    metric name that is wrong by its own key, not `<key>.[key]`, and no pydantic prefixes."""
    from pydantic import ValidationError

    from gitops_ml.core.params import GatesParams, problems

    with pytest.raises(ValidationError) as caught:
        GatesParams.model_validate({"max_drop": {"roc_auc": -1, "acuracy": 0.1}, "noise_z": 0})
    found = problems(caught.value, "gates")
    assert found[0] == "gates.max_drop.roc_auc: Input should be greater than or equal to 0"
    assert any(p.startswith("gates.max_drop.acuracy: ") for p in found)
    assert not any("[key]" in p for p in found)
    assert found[-1] == "gates.noise_z: Input should be greater than 0"
    assert problems(caught.value)[-1] == "noise_z: Input should be greater than 0"
