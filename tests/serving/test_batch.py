"""Batch scoring: chunked, identical to in-process predictions, errors naming the row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core.errors import DataError, ModelError, UserError
from gitops_ml.infra.tables import read_chunks
from gitops_ml.serving import batch as predict
from gitops_ml.serving.scoring import FIDELITY

from ..conftest import BIN, ROOT, run
from ..support.serving import ID, Trained


def _input(trained: Trained, path: Path) -> pd.DataFrame:
    frame = trained.test[[ID, *trained.schema.features]]
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return frame


def _score(trained: Trained, source: Path, dest: Path, **options: Any) -> predict.Scored:
    """`gitops-ml predict` in process on the trained model: threshold 0.5, no progress bar."""
    settings = {"threshold": 0.5, "schema_path": trained.schema_path, "progress": False}
    return predict.run(str(trained.model_path), source, dest, **(settings | options))


@pytest.mark.parametrize(("source", "dest"), [("in.csv", "out.parquet"), ("in.parquet", "out.csv")])
def test_batch_scores_equal_in_process_predictions(
    trained: Trained, tmp_path: Path, source: str, dest: str
) -> None:
    """Scored in small chunks, every row gets the pipeline's own probability, id kept, in order."""
    frame = _input(trained, tmp_path / source)
    done = _score(trained, tmp_path / source, tmp_path / dest, threshold=0.4, chunk_rows=333)
    out = (
        # Labels as text, as written (pandas would turn `true` or `1` into a boolean or a number).
        pd.read_csv(tmp_path / dest, dtype={"label": str})
        if dest.endswith(".csv")
        else pd.read_parquet(tmp_path / dest)
    )
    want = trained.pipeline.predict_proba(trained.test[trained.schema.features])[:, 1]
    assert done.rows == len(frame) == len(out)
    assert list(out.columns) == [ID, "probability", "label"]
    assert out[ID].tolist() == frame[ID].tolist()
    np.testing.assert_allclose(out["probability"], want, rtol=0, atol=FIDELITY)
    labels = (trained.schema.positive_label, trained.schema.negative_label)
    assert out["label"].tolist() == np.where(want >= 0.4, *labels).tolist()


def test_a_bad_value_names_the_line_and_writes_nothing(trained: Trained, tmp_path: Path) -> None:
    """A text value in a numeric column fails with its CSV line; no output file appears."""
    frame = _input(trained, tmp_path / "in.csv").copy()
    number = trained.schema.numeric[0]  # the example: tenure
    row = min(700, len(frame) - 1)  # in a later chunk than the first
    frame[number] = frame[number].astype(object)
    frame.loc[frame.index[row], number] = "twelve"
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError) as err:
        _score(trained, tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=min(250, row // 2))
    where = f"column '{number}' at line {row + 2}"
    assert f"{where}: expected finite numbers, got 'twelve'" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_an_infinity_in_a_parquet_number_column_names_the_row(
    trained: Trained, tmp_path: Path
) -> None:
    """A Parquet column of numbers is checked on its array: an infinity fails with its row; a
    column of numbers written as text is stripped and parsed, and its bad text named."""
    frame = _input(trained, tmp_path / "in.parquet").copy()
    number, other = trained.schema.numeric[0], trained.schema.numeric[1]
    row = min(700, len(frame) - 1)
    frame[number] = frame[number].astype("float64")
    frame.loc[frame.index[row], number] = -np.inf
    frame[other] = [
        None if pd.isna(v) else f" {v} " if i % 2 else str(v) for i, v in enumerate(frame[other])
    ]

    def refusal() -> str:
        frame.to_parquet(tmp_path / "in.parquet", index=False)
        with pytest.raises(DataError) as err:
            _score(trained, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_rows=250)
        return str(err.value)

    frame.loc[frame.index[3], other] = "n/a"
    assert f"column '{other}' at row 4: expected finite numbers, got 'n/a'" in refusal()
    frame.loc[frame.index[3], other] = " 12 "
    assert f"column '{number}' at row {row + 1}: expected finite numbers, got -inf" in refusal()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_a_missing_column_is_named(trained: Trained, tmp_path: Path) -> None:
    """An input without a feature column is refused, naming the column."""
    category = trained.schema.categorical[0]
    frame = _input(trained, tmp_path / "in.parquet").drop(columns=[category])
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(DataError, match=rf"missing feature column\(s\) \['{category}'\]"):
        _score(trained, tmp_path / "in.parquet", tmp_path / "out.parquet")


def test_an_unknown_output_format_is_refused(trained: Trained, tmp_path: Path) -> None:
    """The output must be CSV or Parquet."""
    _input(trained, tmp_path / "in.csv")
    with pytest.raises(
        UserError, match=r"--output .*out.json: expected a path ending in .csv or .parquet"
    ):
        _score(trained, tmp_path / "in.csv", tmp_path / "out.json")


def test_cli_scores_a_file(trained: Trained, tmp_path: Path, tool_env: dict[str, str]) -> None:
    """`gitops-ml predict` scores a file and reports the rows; a bad file is one error line."""
    _input(trained, tmp_path / "in.parquet")
    cmd = [
        str(BIN / "gitops-ml"),
        "predict",
        "--model",
        str(trained.model_path),
        "--schema",
        str(trained.schema_path),
        "--params",
        str(ROOT / "params.yaml"),
        "--input",
        str(tmp_path / "in.parquet"),
        "--output",
        str(tmp_path / "out.parquet"),
    ]
    done = run(cmd, tmp_path, tool_env)
    assert f"scored {len(trained.test)} rows with model md5:" in done.stdout
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == len(trained.test)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    bad = run(
        [*cmd[:-4], "--input", str(tmp_path / "bad.csv"), "--output", "x.csv"],
        tmp_path,
        tool_env,
        check=False,
    )
    assert bad.returncode == 1
    assert "missing feature column(s)" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_files_are_read_in_chunks_of_the_given_size(trained: Trained, tmp_path: Path) -> None:
    """Both formats are read chunk by chunk, never more rows at once than asked for."""
    for name in ("in.csv", "in.parquet"):
        frame = _input(trained, tmp_path / name)
        chunks = list(read_chunks(tmp_path / name, [ID, trained.schema.numeric[0]], 400))
        assert [len(c.frame) for c in chunks[:-1]] == [400] * (len(chunks) - 1)
        assert 0 < len(chunks[-1].frame) <= 400
        joined = pd.concat([c.frame for c in chunks])
        assert joined.index.tolist() == list(range(len(frame)))
        assert joined[ID].tolist() == frame[ID].tolist()


def test_parquet_text_features_are_read_as_categories(trained: Trained, tmp_path: Path) -> None:
    """Text columns asked for as categories come as `category` (from the file's dictionary);
    the others, the id column among them, keep their type."""
    _input(trained, tmp_path / "in.parquet")
    category, number = trained.schema.categorical[0], trained.schema.numeric[0]
    (chunk, *_) = read_chunks(
        tmp_path / "in.parquet", [ID, category, number], 400, as_category=[category, number]
    )
    assert isinstance(chunk.frame[category].dtype, pd.CategoricalDtype)
    assert chunk.frame[category].tolist() == trained.test[category].head(400).tolist()
    assert chunk.frame[number].dtype == trained.test[number].dtype
    assert chunk.frame[ID].dtype == trained.test[ID].dtype


@pytest.mark.parametrize("name", ["in.parquet", "in.csv"])
def test_messy_text_scores_as_scikit_learn_scores_its_labels(
    trained: Trained, tmp_path: Path, name: str
) -> None:
    """Padded, blank, unseen and missing categorical values in a file: the compiled path,
    reading Parquet text as categories, gives every row scikit-learn's probability."""
    frame = trained.test[[ID, *trained.schema.features]].copy()
    rng = np.random.default_rng(0)
    for col in trained.schema.categorical:
        values = frame[col].astype(object)
        mess = rng.integers(0, 5, len(frame))
        values[mess == 1] = "  " + values[mess == 1].astype(str) + " "
        values[mess == 2] = ""
        values[mess == 3] = "a category nobody has seen"
        values[mess == 4] = None
        frame[col] = values
    if name.endswith(".csv"):
        frame.to_csv(tmp_path / name, index=False)
    else:
        frame.to_parquet(tmp_path / name, index=False)
    compiled = _score(trained, tmp_path / name, tmp_path / "c.parquet", chunk_rows=300)
    reference = _score(
        trained, tmp_path / name, tmp_path / "s.parquet", chunk_rows=300, engine="sklearn"
    )
    assert (compiled.engine, reference.engine) == ("onnxruntime", "scikit-learn")
    got, want = pd.read_parquet(tmp_path / "c.parquet"), pd.read_parquet(tmp_path / "s.parquet")
    np.testing.assert_allclose(got["probability"], want["probability"], rtol=0, atol=FIDELITY)
    assert got["label"].tolist() == want["label"].tolist()
    assert got[ID].tolist() == want[ID].tolist() == frame[ID].tolist()
    assert want["probability"].nunique() > len(frame) // 4  # the rows do score differently


def test_an_id_column_that_is_a_text_feature_is_copied_as_text(
    trained: Trained, tmp_path: Path
) -> None:
    """A text feature named as the id column is copied as the file holds it (text), though
    features are read as categories."""
    category = trained.schema.categorical[0]
    frame = trained.test[[ID, *trained.schema.features]].copy()
    frame[category] = frame[category].astype("str")  # as most files hold text
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    _score(
        trained,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        id_column=category,
        chunk_rows=300,
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == [category, "probability", "label"]
    assert not isinstance(out[category].dtype, pd.CategoricalDtype)
    assert out[category].tolist() == frame[category].tolist()


@pytest.mark.parametrize("name", ["in.csv", "in.parquet"])
def test_ids_missing_in_the_whole_first_chunk_keep_their_type(
    trained: Trained, tmp_path: Path, name: str
) -> None:
    """A first chunk whose ids are all missing does not fix the output's id column to no type:
    the ids after it are written, in the input's type."""
    frame = trained.test[[ID, *trained.schema.features]].copy()
    frame[ID] = frame[ID].astype("str").astype(object)
    first = min(300, len(frame) // 2)
    frame.loc[frame.index[:first], ID] = None
    if name.endswith(".csv"):
        frame.to_csv(tmp_path / name, index=False)
    else:
        frame.to_parquet(tmp_path / name, index=False)
    _score(trained, tmp_path / name, tmp_path / "out.parquet", chunk_rows=first)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out[ID].isna().sum() == first
    assert out[ID].tolist()[first:] == frame[ID].tolist()[first:]


def test_without_a_champion_predict_and_serve_say_what_to_do(
    trained: Trained, tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh registry has no champion: both commands say to promote or to name the file."""
    from gitops_ml.core.params import ServeParams
    from gitops_ml.serving import app

    store = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    _input(trained, tmp_path / "in.csv")
    champion = "models:/churn-classifier@champion"
    hint = r"No champion of churn-classifier in the registry .*Promote a model first"
    with pytest.raises(ModelError, match=hint) as predicting:
        predict.run(
            champion, tmp_path / "in.csv", tmp_path / "out.csv", threshold=0.5,
            schema_path=trained.schema_path,
        )  # fmt: skip
    assert "--model models/model.skops" in str(predicting.value)
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(ModelError, match=hint):
        app.run(
            champion, host="127.0.0.1", port=1, settings=ServeParams(), threshold=0.5,
            schema_path=trained.schema_path, metrics_path=None,
        )  # fmt: skip
    done = run(
        [
            str(BIN / "gitops-ml"),
            "predict",
            "--params",
            str(ROOT / "params.yaml"),
            "--input",
            "in.csv",
            "--output",
            "out.csv",
        ],
        tmp_path,
        {**tool_env, "MLFLOW_TRACKING_URI": store},
        check=False,
    )
    assert done.returncode == 1
    assert "Promote a model first" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_compiled_path_that_disagrees_on_the_files_first_rows_falls_back(
    trained: Trained,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fidelity check at load scores made-up records; before a file is scored, both paths
    score its first rows too. A compiled path off by more than FIDELITY there (as a converter
    bug on real data would be) leaves the file to scikit-learn, and the run says so."""
    from gitops_ml.serving import scoring

    _input(trained, tmp_path / "in.parquet")
    args = {"threshold": 0.5, "schema_path": trained.schema_path, "progress": False}
    honest = predict.run(
        str(trained.model_path), tmp_path / "in.parquet", tmp_path / "honest.parquet", **args
    )
    assert honest.engine == scoring.COMPILED

    right = scoring.derive(trained.pipeline, trained.schema)
    off = scoring.Scorer(right.engine, right.reason, lambda c: right.proba(c) + 10 * FIDELITY)
    monkeypatch.setattr(scoring, "choose", lambda *_, **__: off)
    done = predict.run(
        str(trained.model_path), tmp_path / "in.parquet", tmp_path / "out.parquet", **args
    )
    assert done.engine == scoring.SKLEARN
    assert "fidelity check on the first rows of in.parquet failed" in caplog.text
    assert "probabilities differ from scikit-learn's by up to 0.0001" in caplog.text
    out = pd.read_parquet(tmp_path / "out.parquet")
    want = trained.pipeline.predict_proba(trained.test[trained.schema.features])[:, 1]
    np.testing.assert_allclose(out["probability"], want, rtol=0, atol=1e-12)
