"""The online API: predictions, validation, metadata, metrics, readiness and reloading."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from gitops_ml.core.errors import UserError
from gitops_ml.core.params import ServeParams
from gitops_ml.infra import model_source as loading
from gitops_ml.serving import app as serve
from gitops_ml.serving.batcher import Source
from gitops_ml.serving.records import decision_threshold
from gitops_ml.serving.scoring import FIDELITY

from ..conftest import BIN, ROOT, run
from ..support.serving import (
    ID,
    MODEL_NAME,
    Trained,
    env_for,
    fit_model,
    free_port,
    process,
    register,
    tracking,
)

LIMITS = ServeParams(max_records=20, max_body_bytes=64 * 1024, poll_seconds=0)


def test_threshold_is_serve_s_else_the_model_s_else_evaluate_s() -> None:
    """serve.threshold wins when set; then the threshold stored with the model; then evaluate's."""
    assert decision_threshold(0.3, 0.7, 0.5) == 0.3
    assert decision_threshold(None, 0.7, 0.5) == 0.7
    assert decision_threshold(None, None, 0.5) == 0.5


def make_app(model: Trained, settings: ServeParams = LIMITS, threshold: float = 0.5) -> Any:
    """The app serving a local model file, loaded up front."""
    ref = loading.resolve(str(model.model_path))
    loaded = loading.load(ref, schema_path=model.schema_path)
    source = Source(resolve=lambda: ref, load=lambda _: loaded, pollable=False)
    return serve.create_app(model.schema, source, settings, threshold, initial=loaded)


@pytest.fixture(scope="module")
def client(trained: Trained) -> Iterator[TestClient]:
    """A client of the app serving the session's model."""
    with TestClient(make_app(trained)) as c:
        yield c


def expected(model: Trained, n: int) -> np.ndarray:
    """In-process probabilities of the first n test rows."""
    return model.pipeline.predict_proba(model.test[model.schema.features].head(n))[:, 1]


def test_one_record_is_scored_like_the_pipeline(client: TestClient, trained: Trained) -> None:
    """It returns the pipeline's own probability and the label at the threshold."""
    record = trained.records(1)[0]
    body = client.post("/predict", json=record).json()
    [prediction] = body["predictions"]
    assert prediction["probability"] == pytest.approx(expected(trained, 1)[0], abs=FIDELITY)
    positive = prediction["probability"] >= 0.5
    schema = trained.schema
    assert prediction["label"] == (schema.positive_label if positive else schema.negative_label)
    assert prediction["id"] == record["customer_id"]
    assert body["model_version"].startswith("md5:")
    assert body["threshold"] == 0.5


def test_a_list_is_scored_in_order(client: TestClient, trained: Trained) -> None:
    """A list of records comes back in request order, identical to in-process scores."""
    records = trained.records(20)
    body = client.post("/predict", json=records).json()
    got = np.array([p["probability"] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected(trained, 20), rtol=0, atol=FIDELITY)
    assert [p["id"] for p in body["predictions"]] == [r["customer_id"] for r in records]


def test_the_threshold_decides_the_label(trained: Trained) -> None:
    """A serve threshold above every score labels every record negative."""
    with TestClient(make_app(trained, threshold=0.999)) as c:
        body = c.post("/predict", json=trained.records(10)).json()
    assert {p["label"] for p in body["predictions"]} == {trained.schema.negative_label}
    assert body["threshold"] == 0.999


def test_missing_values_are_null_and_blank_text_is_missing(
    client: TestClient, trained: Trained
) -> None:
    """Null and blank text score as missing values, as the pipeline imputes them in training."""
    record = trained.records(1)[0]
    number, category = trained.schema.numeric[0], trained.schema.categorical[0]
    nulls = {**record, number: None, category: None}
    blank = {**record, number: None, category: "  "}
    frame = trained.test[trained.schema.features].head(1).copy()
    frame[number] = np.nan
    frame[category] = frame[category].cat.add_categories([]).astype(object)
    frame.loc[frame.index[0], category] = np.nan
    want = trained.pipeline.predict_proba(frame)[:, 1][0]
    for body in (nulls, blank):
        got = client.post("/predict", json=body).json()["predictions"][0]["probability"]
        assert got == pytest.approx(want, abs=FIDELITY)


def _bad(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**record, **changes}
    return {k: v for k, v in out.items() if v != "<drop>"}


def _cases(trained: Trained) -> list[tuple[str, bytes, int, list[Any]]]:
    record = trained.records(1)[0]
    num, cat = trained.schema.numeric[0], trained.schema.categorical[0]  # tenure, contract

    def dumps(value: Any) -> bytes:
        # Names as they are (not \u-escaped), so the NaN case below finds a non-ASCII name.
        return json.dumps(value, ensure_ascii=False).encode()

    quoted = f'"{num}": '.encode()
    return [
        ("wrong type", dumps(_bad(record, **{num: "12"})), 422, ["body", num]),
        ("bool as number", dumps(_bad(record, **{num: True})), 422, ["body", num]),
        ("number as text", dumps(_bad(record, **{cat: 3})), 422, ["body", cat]),
        ("missing field", dumps(_bad(record, **{cat: "<drop>"})), 422, ["body", cat]),
        ("unknown field", dumps(_bad(record, colour="red")), 422, ["body", "colour"]),
        ("NaN", dumps(record).replace(quoted, quoted + b'NaN, "x": '), 422, []),
        ("infinity", dumps(_bad(record, **{num: 1e400})), 422, ["body", num]),
        ("too large", dumps(_bad(record, **{num: 1e300})), 422, ["body", num]),
        ("in a list", dumps([record, _bad(record, **{num: "x"})]), 422, ["body", 1, num]),
        ("empty list", b"[]", 422, ["body"]),
        ("too many", dumps([record] * 21), 422, ["body"]),
        ("malformed JSON", b"{" + quoted + b"1,", 400, ["body"]),
        ("not an object", b"42", 422, ["body"]),
        ("body too large", b"[" + b" " * 70_000 + b"]", 413, ["body"]),
        ("empty body", b"", 400, ["body"]),
        ("repeated key", dumps(record)[:-1] + b", " + quoted + b"5}", 422, ["body", num]),
        (
            "repeated key in a list",
            b"[" + dumps(record) + b", " + dumps(record)[:-1] + b", " + quoted + b"5}]",
            422,
            ["body", 1, num],
        ),
    ]


@pytest.mark.parametrize("case", range(17))
def test_bad_requests_get_a_4xx_naming_the_field(
    client: TestClient, trained: Trained, case: int
) -> None:
    """Each kind of bad input is refused with a 4xx whose detail locates the problem."""
    name, body, status, loc = _cases(trained)[case]
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, name
    detail = response.json()["detail"]
    assert detail, name
    assert all(item["msg"] for item in detail), name
    if loc:
        assert loc in [item["loc"] for item in detail], (name, detail)
    if name == "NaN":
        where = ["body", trained.schema.numeric[0]]
        assert where in [item["loc"] for item in detail]
        assert "finite" in next(i["msg"] for i in detail if i["loc"] == where)


def test_a_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    """A chunked body without Content-Length is cut off at the limit with 413."""

    def stream() -> Iterator[bytes]:
        yield b"["
        for _ in range(100):
            yield b" " * 1024

    response = client.post("/predict", content=stream())
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["detail"][0]["msg"]


def test_unseen_categories_are_scored_and_counted(trained: Trained) -> None:
    """A category never seen in training still gets a score, and /metrics counts it."""
    record = trained.records(1)[0]
    with TestClient(make_app(trained)) as c:
        category = trained.schema.categorical[0]
        response = c.post("/predict", json=[{**record, category: "Weekly"}] * 3)
        assert response.status_code == 200
        assert all(0 <= p["probability"] <= 1 for p in response.json()["predictions"])
        text = c.get("/metrics").text
    assert f'gitops_ml_unseen_category_total{{feature="{category}"}} 3.0' in text


def test_metrics_count_requests_by_status_and_scores(trained: Trained) -> None:
    """Requests are counted by path and status; latency and scores are histograms."""
    with TestClient(make_app(trained)) as c:
        c.post("/predict", json=trained.records(4))
        c.post("/predict", content=b"{")
        c.get("/health")
        text = c.get("/metrics").text
    assert 'gitops_ml_requests_total{path="/predict",status="200"} 1.0' in text
    assert 'gitops_ml_requests_total{path="/predict",status="400"} 1.0' in text
    assert 'gitops_ml_requests_total{path="/health",status="200"} 1.0' in text
    assert 'gitops_ml_request_latency_seconds_count{path="/predict"} 2.0' in text
    assert "gitops_ml_score_count 4.0" in text
    assert 'gitops_ml_score_bucket{le="1.0"} 4.0' in text


def test_metadata_reports_the_model_and_threshold(client: TestClient, trained: Trained) -> None:
    """/metadata names the model, its version, data hashes and the threshold."""
    meta = client.get("/metadata").json()
    assert meta["model_name"] == "model"
    assert meta["model_version"].startswith("md5:")
    assert meta["threshold"] == 0.5
    assert meta["features"] == trained.schema.features
    assert any(k.endswith("train.parquet") for k in meta["data_hashes"])


def test_metadata_and_the_log_say_which_path_scores(
    client: TestClient, trained: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    """The compiled path serves the default model; serve.engine sklearn forces scikit-learn,
    and /metadata and the log say which served, with the same probabilities either way."""
    compiled = client.get("/metadata").json()["scoring"]
    assert compiled == {
        "engine": "onnxruntime",
        "reason": "HistGradientBoostingClassifier compiled to ONNX",
    }
    record = trained.records(3)
    fast = client.post("/predict", json=record).json()["predictions"]
    forced = LIMITS.model_copy(update={"engine": "sklearn"})
    with (
        caplog.at_level(logging.INFO, logger="gitops_ml.serve"),
        TestClient(make_app(trained, forced)) as slow_client,
    ):
        meta = slow_client.get("/metadata").json()
        slow = slow_client.post("/predict", json=record).json()["predictions"]
    assert meta["scoring"] == {"engine": "scikit-learn", "reason": "serve.engine is sklearn"}
    assert "scored with scikit-learn (serve.engine is sklearn)" in caplog.text
    np.testing.assert_allclose(
        [p["probability"] for p in fast], [p["probability"] for p in slow], rtol=0, atol=FIDELITY
    )
    assert [p["label"] for p in fast] == [p["label"] for p in slow]


def test_openapi_documents_fields_types_and_categories(
    client: TestClient, trained: Trained
) -> None:
    """The request schema lists every feature with its type and known categories."""
    spec = client.get("/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False
    assert {*trained.schema.features, ID} <= set(record["properties"])
    number = record["properties"][trained.schema.numeric[0]]["anyOf"][0]
    assert number["type"] == "number"
    name = trained.schema.categorical[0]
    known = trained.schema.categories[name]  # the example's contract: Month-to-month, ...
    assert len(known) >= 2
    assert record["properties"][name]["x-known-categories"] == known
    assert known[0] in record["properties"][name]["description"]
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][1]["maxItems"] == 20


def test_not_ready_until_the_model_loads(trained: Trained) -> None:
    """Without a model /health is up, /ready and /predict answer 503, then both work."""
    ref = loading.resolve(str(trained.model_path))
    gate = threading.Event()

    def slow_load(r: loading.ModelRef) -> loading.LoadedModel:
        gate.wait(timeout=30)
        return loading.load(r, schema_path=trained.schema_path)

    source = Source(resolve=lambda: ref, load=slow_load, pollable=False)
    app = serve.create_app(trained.schema, source, LIMITS, 0.5)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 503
        assert c.post("/predict", json=trained.records(1)).status_code == 503
        gate.set()
        for _ in range(100):
            if c.get("/ready").status_code == 200:
                break
            time.sleep(0.1)
        assert c.get("/ready").json()["status"] == "ready"
        assert c.post("/predict", json=trained.records(1)).status_code == 200


def test_a_model_with_other_features_is_refused_on_reload(trained: Trained, tmp_path: Any) -> None:
    """Reloading keeps the old model when the new one takes other features."""
    ref = loading.resolve(str(trained.model_path))
    loaded = loading.load(ref, schema_path=trained.schema_path)
    other_schema = type(trained.schema)(
        **{**trained.schema.__dict__, "numeric": trained.schema.numeric[:-1]}
    )
    other = loading.LoadedModel(
        loaded.pipeline, other_schema, type(loaded.info)(**{**loaded.info.__dict__, "version": "2"})
    )
    newer = loading.ModelRef(uri=ref.uri, name=ref.name, version="2")
    source = Source(resolve=lambda: newer, load=lambda _: other, pollable=True)
    app = serve.create_app(trained.schema, source, LIMITS, 0.5, initial=loaded)
    with TestClient(app) as c:
        c.portal.call(app.state.refresh)
        assert c.get("/metadata").json()["model_version"] == ref.version
        ready = c.get("/ready").json()
        assert "other features" in ready["detail"]
        assert 'gitops_ml_model_reloads_total{outcome="failed"} 1.0' in c.get("/metrics").text


class _LiveServer:
    """The app under a real uvicorn server in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(300):
            if self.server.started:
                return f"http://127.0.0.1:{self.port}"
            time.sleep(0.05)
        raise AssertionError("uvicorn did not start")

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_gets_415(
    client: TestClient, trained: Trained, content_type: str
) -> None:
    """A body declared as anything but JSON is refused with 415, naming the header; the
    record itself would have been scored."""
    body = json.dumps(trained.records(1)[0]).encode()
    answer = client.post("/predict", content=body, headers={"content-type": content_type})
    assert answer.status_code == 415
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["header", "content-type"]
    assert content_type in problem["msg"]
    assert problem["type"] == "unsupported_media"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.x+json"],
)
def test_json_bodies_are_scored_whatever_their_parameters(
    client: TestClient, trained: Trained, content_type: str
) -> None:
    """application/json, with parameters or as a +json type, is read as JSON."""
    body = json.dumps(trained.records(1)[0]).encode()
    answer = client.post("/predict", content=body, headers={"content-type": content_type})
    assert answer.status_code == 200
    got = answer.json()["predictions"][0]["probability"]
    assert got == pytest.approx(expected(trained, 1)[0], abs=FIDELITY)


def test_any_column_name_is_a_field_of_the_api() -> None:
    """Column names pydantic would refuse or confuse as field names (a leading underscore,
    a BaseModel attribute, spaces, other scripts) are the API's fields as they are."""
    from gitops_ml.core.schema import FeatureSchema
    from gitops_ml.serving.api_schema import record_model

    names = ("_internal score", "model_config", "copy", "größe")
    schema = FeatureSchema("y", "1", "0", names, ("kanal",))
    reader = serve.RequestReader(record_model(schema), LIMITS)
    body = json.dumps({"_internal score": 1.5, "model_config": 2, "copy": None, "größe": 3,
                       "kanal": "web"})  # fmt: skip
    assert reader.records(body.encode()) == [
        {"_internal score": 1.5, "model_config": 2.0, "copy": None, "größe": 3.0, "kanal": "web"}
    ]
    assert list(record_model(schema).model_json_schema()["properties"]) == [*names, "kanal"]
    with pytest.raises(serve.RejectedError) as refused:
        reader.records(b'{"copy": 1}')
    assert {tuple(p["loc"]) for p in refused.value.errors} >= {("body", "_internal score")}


def _adversarial(trained: Trained) -> dict[str, tuple[bytes, int]]:
    record = trained.records(1)[0]
    number, category = trained.schema.numeric[0], trained.schema.categorical[0]
    return {
        "JSON nested past the parser's depth": (b'{"a":' * 5000 + b"1" + b"}" * 5000, 400),
        "bytes that are not UTF-8": (b'{"' + category.encode() + b'": "\xff\xfe"}', 400),
        "a byte-order mark before the JSON": (b"\xef\xbb\xbf" + json.dumps(record).encode(), 400),
        "an integer beyond a float": (json.dumps({**record, number: 10**400}).encode(), 422),
        "a list holding null": (b"[null]", 422),
        "records nested in a list": (json.dumps([[record]]).encode(), 422),
        "an id that is an object": (json.dumps({**record, ID: {"a": 1}}).encode(), 422),
        "a body that is one long string": (json.dumps("x" * 70_000).encode(), 413),
    }


def test_adversarial_bodies_get_a_4xx_naming_the_problem(
    client: TestClient, trained: Trained
) -> None:
    """Bodies from an adversarial pass (depth, encoding, magnitude, shape, size) are refused
    with the 4xx their problem calls for, each with a `detail` saying where."""
    for case, (body, status) in _adversarial(trained).items():
        answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == status, (case, answer.text)
        assert answer.json()["detail"][0]["loc"][0] == "body", case


def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(
    trained: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that promises a body and disconnects halfway is logged in one line and
    counted apart from requests: no 500, no traceback."""
    caplog.set_level(logging.INFO)
    with _LiveServer(make_app(trained)) as url:
        port = int(url.rsplit(":", 1)[1])
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: test\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                    b'{"tenure": 1'
                )
                time.sleep(0.2)  # the server is reading the body when the client goes
        metrics = ""
        for _ in range(100):
            metrics = httpx.get(f"{url}/metrics").text
            if 'gitops_ml_client_disconnects_total{path="/predict"} 3.0' in metrics:
                break
            time.sleep(0.05)
        assert 'gitops_ml_client_disconnects_total{path="/predict"} 3.0' in metrics
        assert 'path="/predict",status=' not in metrics
        assert httpx.post(f"{url}/predict", json=trained.records(1)).status_code == 200
    lines = [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    assert lines == ["POST /predict: the client disconnected before the body ended; ignored"] * 3
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _fuzz(op: Any, mode: Any, url: str, checks: list[Any], examples: int) -> int:
    """Send `examples` generated requests to one operation; return how many were sent."""
    from hypothesis import HealthCheck, given, settings

    sent = 0

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        nonlocal sent
        case.call_and_validate(base_url=url, checks=checks)
        sent += 1

    check()
    return sent


@pytest.mark.slow
def test_no_server_error_over_generated_requests(trained: Trained) -> None:
    """Schemathesis sends 500+ requests generated from the OpenAPI spec: none gets a 5xx."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    sent: dict[str, int] = {}
    with _LiveServer(make_app(trained)) as url:
        spec = schemathesis.openapi.from_url(f"{url}/openapi.json")
        for operation in spec.get_all_operations():
            op = operation.ok()
            is_predict = op.path == "/predict"
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and not is_predict:
                    continue

                key = f"{op.path} {mode.value}"
                sent[key] = _fuzz(op, mode, url, checks, 280 if is_predict else 5)
        with httpx.Client(base_url=url) as c:
            metrics = c.get("/metrics").text
    assert sent["/predict positive"] + sent["/predict negative"] >= 500, sent
    assert 'status="5' not in metrics
    assert 'gitops_ml_requests_total{path="/predict",status="200"}' in metrics
    assert 'gitops_ml_requests_total{path="/predict",status="422"}' in metrics


@pytest.mark.slow
def test_cli_serves_the_champion_and_follows_the_alias(
    trained: Trained, mlflow_server: Any, tool_env: dict[str, str], tmp_path: Any
) -> None:
    """`gitops-ml serve` loads models:/name@champion and, when the alias moves, serves the new
    version without a restart."""
    first = register(trained, mlflow_server)
    port = free_port()
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text().replace("poll_seconds: 30", "poll_seconds: 0.5")
    # Serve the name registered above (the example's own; init gives a project another).
    params.write_text(re.sub(r"(?m)^  model_name: .*$", f"  model_name: {MODEL_NAME}", text))
    cmd = [str(BIN / "gitops-ml"), "serve", "--port", str(port), "--params", str(params)]
    url = f"http://127.0.0.1:{port}"
    with process(cmd, tmp_path, env_for(mlflow_server, tool_env), f"{url}/ready"):
        meta = httpx.get(f"{url}/metadata").json()
        assert meta["model_name"] == MODEL_NAME
        assert meta["model_version"] == first
        assert meta["git_commit"]
        assert meta["metrics"]["roc_auc"] == 0.8
        assert meta["schema_source"] == "model metadata"
        body = httpx.post(f"{url}/predict", json=trained.records(5)).json()
        got = [p["probability"] for p in body["predictions"]]
        np.testing.assert_allclose(got, expected(trained, 5), rtol=0, atol=FIDELITY)
        assert body["model_version"] == first

        retrained = fit_model(tmp_path / "v2", max_iter=10)
        second = register(retrained, mlflow_server)
        assert second != first
        for _ in range(120):
            if httpx.get(f"{url}/metadata").json()["model_version"] == second:
                break
            time.sleep(0.25)
        body = httpx.post(f"{url}/predict", json=trained.records(5)).json()
        assert body["model_version"] == second
        want = retrained.pipeline.predict_proba(trained.test[trained.schema.features].head(5))
        got = [p["probability"] for p in body["predictions"]]
        np.testing.assert_allclose(got, want[:, 1], rtol=0, atol=FIDELITY)


def test_cli_reports_a_missing_model_without_traceback(
    tmp_path: Any, tool_env: dict[str, str]
) -> None:
    """A model path that does not exist is one error line and exit code 1."""
    done = run(
        [
            str(BIN / "gitops-ml"),
            "serve",
            "--model",
            "nope.skops",
            "--params",
            str(ROOT / "params.yaml"),
        ],
        tmp_path,
        tool_env,
        check=False,
    )
    assert done.returncode == 1
    assert "nope.skops: model file not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_registry_uri_resolves_to_a_pinned_version(trained: Trained, mlflow_server: Any) -> None:
    """An alias resolves to models:/name/<version>; an unknown name is a user error."""
    version = register(trained, mlflow_server, alias="staging")
    with tracking(mlflow_server.uri):
        ref = loading.resolve(f"models:/{MODEL_NAME}@staging")
        assert ref.uri == f"models:/{MODEL_NAME}/{version}"
        assert ref.run_id
        with pytest.raises(UserError, match="no such model"):
            loading.resolve("models:/no-such-model@champion")
