"""contract.py against docs/asyncapi.yaml, the one source of the wire contract: the
constants equal the document's, and every example of a message the worker hears or
says validates against its schema and round-trips through the worker's own code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from inference_server.wire import contract as c
from inference_server.config import Config
from jsonschema import ValidationError
from nats.micro.service import EndpointInfo, ServiceInfo, ServicePing

from inference_server.models.selection import RuntimeChoice
from inference_server.serving.service import SERVICE_VERSION
from inference_server.wire.frame_meta import MAX_TOP_K, FrameMeta
from inference_server.wire.replies import error_json, result_json, service_metadata

REPO_ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = REPO_ROOT / "docs" / "asyncapi.yaml"
DOC_URI = "urn:webcam-hub:asyncapi"  # the document's address in the schema registry

# The NATS messages a worker consumes or produces.
WORKER_MESSAGES = ("frameImage", "workerResult", "workerError", "workerPong", "workerInfo",
                   "frameBatch", "workerBatchReply")

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def doc() -> Doc:
    if not ASYNCAPI.is_file():
        pytest.fail(f"the contract {ASYNCAPI} is missing", pytrace=False)
    loaded = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and str(loaded.get("asyncapi", "")).startswith("3.")
    return loaded


@pytest.fixture(scope="module")
def registry(doc: Doc) -> Registry:
    """The whole document as one schema resource, so '#/components/schemas/X' resolves."""
    return Registry().with_resource(DOC_URI, DRAFT7.create_resource(doc))


def validator(registry: Registry, *pointer: str) -> Draft7Validator:
    """A validator for the schema at `pointer` (JSON pointer tokens) in the document."""
    return Draft7Validator({"$ref": f"{DOC_URI}#/" + "/".join(pointer)}, registry=registry)


def schemas(doc: Doc) -> dict[str, Any]:
    return doc["components"]["schemas"]


def message(doc: Doc, name: str) -> dict[str, Any]:
    return doc["components"]["messages"][name]


def examples(doc: Doc, name: str) -> list[dict[str, Any]]:
    found = message(doc, name).get("examples") or []
    assert found, f"message {name} has no example"
    return found


# --- (a) the constants are the document's --------------------------------------------


def fill(address: str, **params: object) -> str:
    """The address with its {param} placeholders filled."""
    for name, value in params.items():
        address = address.replace("{" + name + "}", str(value))
    return address


def test_subjects_are_the_channel_addresses(doc: Doc) -> None:
    channels = doc["channels"]
    assert "frames" not in channels  # gone with issue 22: frames go to a model's subject
    infer = channels["infer"]["address"]
    params = {"model": "MODEL", "version": 7, "kind": "KIND", "id": "ID"}
    assert c.infer_subject("MODEL", 7, "KIND", "ID") == fill(infer, **params)
    assert c.INFER_ROOT == infer[:infer.index(".")]
    assert c.results_subject("{kind}", "{id}") == channels["results"]["address"]
    assert c.WORKERS_PING_SUBJECT == channels["workersPing"]["address"]
    assert c.WORKERS_INFO_SUBJECT == channels["workersInfo"]["address"]
    assert c.MICRO_SERVICE == schemas(doc)["WorkerPong"]["properties"]["name"]["const"]
    assert c.MICRO_SERVICE == schemas(doc)["WorkerInfo"]["properties"]["name"]["const"]
    assert c.recorded_frame_stored_subject("ID") == fill(
        channels["recordedFrames"]["x-stored-as"], id="ID")


def test_one_endpoint_per_model_version(doc: Doc) -> None:
    endpoint = doc["channels"]["infer"]["x-micro-endpoint"]
    assert c.endpoint_name("MODEL", 7) == fill(endpoint["name"], model="MODEL", version=7)
    assert c.endpoint_subject("MODEL", 7) == fill(endpoint["subject"], model="MODEL", version=7)
    assert endpoint["queueGroup"] == c.QUEUE_GROUP
    assert schemas(doc)["WorkerEndpoint"]["properties"]["queue_group"]["const"] == c.QUEUE_GROUP
    # Every frame of a model-version is under its endpoint's subject.
    subject = c.infer_subject("m", 3, c.KIND_REPLAY, "run1.part2")
    assert subject.startswith(c.endpoint_subject("m", 3)[:-1])
    name = schemas(doc)["WorkerEndpoint"]["properties"]["name"]["pattern"]
    assert re.match(name, c.endpoint_name("eff-net_2", 999_999_999))


def test_split_infer_subject() -> None:
    assert c.split_infer_subject(c.infer_subject("eff-net", 42, c.KIND_REPLAY, "run1.part2")) == (
        "eff-net", 42, c.KIND_REPLAY, "run1.part2")
    assert c.split_infer_subject("infer.m.1.cli") == ("m", 1, c.KIND_CLI, None)
    for subject in ("infer.m.0.live.x", "infer.m.x.live.x", "infer..1.live.x", "infer.m.1",
                    "infer.m.1..x", "frames.live.x", "infer.m@1.1.live.x"):
        assert c.split_infer_subject(subject) is None, subject


def test_models(doc: Doc) -> None:
    s = schemas(doc)
    assert c.MODEL_NAME_PATTERN == s["ModelName"]["pattern"]
    assert c.MODEL_REF_PATTERN == s["ModelRef"]["pattern"]
    assert c.MODEL_REF_VERSION_SEPARATOR == doc["x-model-ref-version-separator"]
    assert (c.MIN_MODEL_VERSION, c.MAX_MODEL_VERSION) == (s["ModelVersion"]["minimum"],
                                                          s["ModelVersion"]["maximum"])
    assert list(c.TASKS) == s["ModelTask"]["enum"]
    assert list(c.LABELS_SOURCES) == s["LabelsSource"]["enum"]
    assert list(c.PLATFORMS) == s["ModelPlatform"]["enum"]
    ref = re.compile(c.MODEL_REF_PATTERN)
    assert ref.match(c.model_ref("mobilenet_v2", 1)) and ref.match("mobilenet_v2")
    assert not ref.match("mobilenet_v2@0") and not ref.match("a.b")
    assert re.match(s["ServiceMetadata"]["properties"][c.META_MODELS]["pattern"],
                    " ".join(c.model_ref(n, v) for n, v in (("a", 1), ("b-c", 22))))


def test_metadata_keys(doc: Doc) -> None:
    service = schemas(doc)["ServiceMetadata"]
    assert sorted(service["required"]) == sorted(c.SERVICE_METADATA_REQUIRED)
    assert sorted(service["properties"]) == sorted(c.SERVICE_METADATA_KEYS)
    endpoint = schemas(doc)["EndpointMetadata"]
    assert sorted(endpoint["required"]) == sorted(c.ENDPOINT_METADATA_REQUIRED)
    assert sorted(endpoint["properties"]) == sorted(c.ENDPOINT_METADATA_KEYS)


def test_kinds(doc: Doc) -> None:
    infer = doc["channels"]["infer"]["parameters"]["kind"]["enum"]
    assert [*c.KINDS, c.KIND_BATCH] == infer
    # A batch's answers go to each frame's own kind: never results.batch.
    assert list(c.KINDS) == doc["channels"]["results"]["parameters"]["kind"]["enum"]


def test_frame_batch(doc: Doc) -> None:
    """The batch message, its reply and its entries (issue 25, frames per message)."""
    s = schemas(doc)
    assert sorted(s["FrameBatchHeaders"]["properties"]) == sorted(c.FRAME_BATCH_HEADERS)
    assert sorted(s["BatchReplyHeaders"]["properties"]) == sorted(c.BATCH_REPLY_HEADERS)
    for schema in ("FrameBatchHeaders", "BatchReplyHeaders"):
        headers = s[schema]["properties"]
        assert headers[c.HEADER_CONTENT_TYPE]["const"] == c.CONTENT_TYPE_FRAME_BATCH, schema
        assert c.HEADER_FRAME_COUNT in s[schema]["required"], schema
        assert not re.match(headers[c.HEADER_FRAME_COUNT]["pattern"], "1"), schema
    for name in ("frameBatch", "workerBatchReply"):
        assert message(doc, name)["contentType"] == c.CONTENT_TYPE_FRAME_BATCH, name
        assert doc["channels"]["infer"]["messages"][name] == {
            "$ref": f"#/components/messages/{name}"}
    entry = s["FrameBatchEntry"]
    assert sorted(entry["properties"]) == sorted(c.BATCH_ENTRY_KEYS)
    assert sorted(entry["required"]) == sorted(c.BATCH_ENTRY_REQUIRED)
    assert entry["properties"][c.BATCH_KIND]["enum"] == list(c.BATCH_ENTRY_KINDS)
    assert entry["properties"][c.BATCH_TOP_K]["maximum"] == MAX_TOP_K
    assert s["ServiceMetadata"]["properties"][c.META_FRAMES_PER_MESSAGE]["pattern"] == (
        s["ServiceMetadata"]["properties"][c.META_BATCH_MAX]["pattern"])


def test_queue_group(doc: Doc) -> None:
    queues = {name: op["bindings"]["nats"]["queue"]
              for name, op in doc["operations"].items()
              if "queue" in (op.get("bindings") or {}).get("nats", {})}
    assert queues == {"workerReceiveFrame": c.QUEUE_GROUP}
    assert doc["operations"]["workerReceiveFrame"]["channel"] == {"$ref": "#/channels/infer"}
    assert Config().queue_group == c.QUEUE_GROUP


def test_headers(doc: Doc) -> None:
    frame = schemas(doc)["FrameHeaders"]["properties"]
    reply = schemas(doc)["ReplyHeaders"]["properties"]
    assert sorted(frame) == sorted(c.FRAME_HEADERS)
    assert sorted(reply) == sorted(c.REPLY_HEADERS)
    assert sorted(frame[c.HEADER_CONTENT_TYPE]["enum"]) == sorted(c.IMAGE_CONTENT_TYPES)
    assert reply[c.HEADER_CONTENT_TYPE]["const"] == c.CONTENT_TYPE_JSON
    for name in ("workerResult", "workerError", "workerPong"):
        assert message(doc, name)["contentType"] == c.CONTENT_TYPE_JSON, name


def test_top_k_range(doc: Doc) -> None:
    """The worker honours Top-K 1..MAX_TOP_K, as many as a result may hold."""
    pattern = re.compile(schemas(doc)["FrameHeaders"]["properties"][c.HEADER_TOP_K]["pattern"])
    assert all(pattern.match(str(k)) for k in range(1, MAX_TOP_K + 1))
    assert not pattern.match("0") and not pattern.match(str(MAX_TOP_K + 1))
    assert schemas(doc)["Result"]["properties"]["predictions"]["maxItems"] == MAX_TOP_K


def test_message_types(doc: Doc) -> None:
    assert schemas(doc)["Result"]["properties"]["type"]["const"] == c.TYPE_RESULT
    assert schemas(doc)["WorkerError"]["properties"]["type"]["const"] == c.TYPE_ERROR


def test_error_codes(doc: Doc) -> None:
    table = doc["x-error-codes"]
    # Codes only a worker answers with (bad_batch): never a client's, not in the table.
    worker_only = doc["x-worker-only-error-codes"]
    assert list(worker_only) == list(c.WORKER_ONLY_ERROR_CODES)
    assert not set(worker_only) & set(table)
    assert all(row["clientCode"] in table for row in worker_only.values())
    assert set(c.WORKER_ERROR_CODES) <= set(table) | set(worker_only)
    # The hub's model codes: a worker never answers with them.
    assert set(c.HUB_MODEL_ERROR_CODES) <= set(table)
    assert not set(c.HUB_MODEL_ERROR_CODES) & set(c.WORKER_ERROR_CODES)
    assert list(table)[-1] == c.CODE_INTERNAL
    assert schemas(doc)["ErrorCode"]["enum"] == list(table)  # the document agrees with itself
    assert schemas(doc)["WorkerError"]["properties"]["code"] == {
        "$ref": "#/components/schemas/WorkerErrorCode"}
    assert schemas(doc)["WorkerErrorCode"]["anyOf"] == [
        {"$ref": "#/components/schemas/ErrorCode"},
        {"type": "string", "enum": list(c.WORKER_ONLY_ERROR_CODES)}]


# --- (b) the examples validate and round-trip through the worker's code --------------


def test_schemas_are_valid_json_schema(doc: Doc) -> None:
    for schema in schemas(doc).values():
        Draft7Validator.check_schema(schema)  # raises SchemaError on a malformed schema


@pytest.mark.parametrize("name", WORKER_MESSAGES)
def test_worker_message_examples_validate(doc: Doc, registry: Registry, name: str) -> None:
    for example in examples(doc, name):
        assert "payload" in example or "headers" in example, example
        if "payload" in example:
            payload = validator(registry, "components", "messages", name, "payload")
            payload.validate(example["payload"])
            # The schema is really applied: a payload without its fields is refused.
            assert not payload.is_valid({}), name
        if "headers" in example:
            validator(registry, "components", "messages", name, "headers").validate(
                example["headers"])


def frame_meta(session: str, seq: int, traceparent: str | None = None) -> FrameMeta:
    headers = {c.HEADER_SESSION_ID: session, c.HEADER_FRAME_SEQ: str(seq)}
    if traceparent:
        headers[c.HEADER_TRACEPARENT] = traceparent
    return FrameMeta.parse(c.infer_subject("m", 1, c.KIND_LIVE, session), headers, None)


def test_result_examples_round_trip(doc: Doc, registry: Registry) -> None:
    reply_headers = validator(registry, "components", "schemas", "ReplyHeaders")
    for example in examples(doc, "workerResult"):
        want = example["payload"]
        meta = frame_meta(want["session"], want["seq"])
        timing = want["timing"]
        body = result_json(meta, want["predictions"], timing["decode_ms"],
                           timing["decode_cpu_ms"], timing["infer_ms"], timing["batch"],
                           want["worker"], want["model"], want["version"], want["task"])
        assert json.loads(body) == want
        assert meta.response_headers() == example["headers"]
        reply_headers.validate(meta.response_headers())


def test_error_examples_round_trip(doc: Doc) -> None:
    for example in examples(doc, "workerError"):
        want = example["payload"]
        assert want["code"] in c.WORKER_ERROR_CODES
        meta = frame_meta(want["session"], want["seq"])
        assert json.loads(error_json(meta, want["code"], want["message"])) == want
        assert meta.response_headers() == example["headers"]


def micro_pong(service_id: str, metadata: dict[str, str]) -> dict[str, Any]:
    """What nats.micro answers on the service's ping, with the worker's metadata."""
    return ServicePing(id=service_id, name=c.MICRO_SERVICE, version=SERVICE_VERSION,
                       metadata=metadata).to_dict()


def test_pong_examples_are_what_nats_micro_sends(doc: Doc) -> None:
    """The pong examples are nats.micro's ping response with the example's metadata."""
    for example in examples(doc, "workerPong"):
        want = example["payload"]
        assert micro_pong(want["id"], want["metadata"]) == want


def test_info_examples_are_what_nats_micro_sends(doc: Doc) -> None:
    """The info examples are nats.micro's info response, one endpoint per model-version
    named and subscribed as the contract's functions say."""
    for example in examples(doc, "workerInfo"):
        want = example["payload"]
        endpoints = []
        for e in want["endpoints"]:
            model, version = e["metadata"][c.META_MODEL], int(e["metadata"][c.META_VERSION])
            endpoints.append(EndpointInfo(name=c.endpoint_name(model, version),
                                          subject=c.endpoint_subject(model, version),
                                          queue_group=c.QUEUE_GROUP, metadata=e["metadata"]))
        info = ServiceInfo(name=c.MICRO_SERVICE, id=want["id"], version=SERVICE_VERSION,
                           description=want["description"], endpoints=endpoints,
                           metadata=want["metadata"])
        assert info.to_dict() == want
        served = sorted(c.model_ref(e["metadata"][c.META_MODEL], int(e["metadata"][c.META_VERSION]))
                        for e in want["endpoints"])
        assert sorted(want["metadata"][c.META_MODELS].split()) == served
        assert isinstance(json.loads(want["metadata"][c.META_MODEL_ERRORS]), dict)


def test_service_metadata_validates(registry: Registry) -> None:
    pong = validator(registry, "components", "schemas", "WorkerPong")
    for models, errors in (([], {}), (["b@2", "a@1"], {"c@3": "no model file"})):
        pong.validate(micro_pong("id1", service_metadata("w1", 8, models, errors)))
    with pytest.raises(ValidationError):  # the schema is really applied
        pong.validate(micro_pong("id1", service_metadata("w1", 8, ["a.b@1"], {})))


def test_result_json_validates(registry: Registry) -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    prediction = {"label": "macaw", "index": 88, "confidence": 0.97}
    for meta in (FrameMeta.parse(c.infer_subject("m", 1, c.KIND_CLI, "x"), None, "_INBOX.a"),
                 frame_meta("s1", 3, tp)):
        validator(registry, "components", "schemas", "Result").validate(
            json.loads(result_json(meta, [prediction], 1.0, 0.9, 2.0, 1, "w1", "mobilenet_v2", 1)))


def test_frame_header_examples_parse(doc: Doc) -> None:
    for example in examples(doc, "frameImage"):
        headers = example["headers"]
        # As sent, and as nats.go canonicalises the names (traceparent -> Traceparent).
        for sent in (headers, {k.title(): v for k, v in headers.items()}):
            meta = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_LIVE, "subject-id"), sent, "_INBOX.a")
            assert meta.session == headers.get(c.HEADER_SESSION_ID, "subject-id")
            assert meta.seq == int(headers.get(c.HEADER_FRAME_SEQ, 0))
            assert meta.content_type == headers.get(c.HEADER_CONTENT_TYPE)
            assert meta.traceparent == headers.get(c.HEADER_TRACEPARENT)
            top = headers.get(c.HEADER_TOP_K)
            assert meta.top_k == (int(top) if top is not None else None)


def test_worker_output_validates(doc: Doc, registry: Registry) -> None:
    """What the worker writes for a frame without headers (seq 0, session from the
    subject) and with a trace context is still the document's."""
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    bare = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_CLI, "x"), None, "_INBOX.a")
    traced = frame_meta("s1", 3, tp)
    for meta in (bare, traced):
        for code in c.WORKER_ERROR_CODES:
            validator(registry, "components", "schemas", "WorkerError").validate(
                json.loads(error_json(meta, code, "why")))
        validator(registry, "components", "schemas", "ReplyHeaders").validate(
            meta.response_headers())
    validator(registry, "components", "schemas", "FrameHeaders").validate(
        {c.HEADER_SESSION_ID: "s1", c.HEADER_FRAME_SEQ: "3", c.HEADER_TRACEPARENT: tp,
         c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JPEG, c.HEADER_TOP_K: str(MAX_TOP_K)})
    # What a runtime choice says is endpoint metadata now (issue 22).
    choice = RuntimeChoice("openvino", "timed", {"litert": 500.25, "openvino": 590.0},
                           precision="bf16")
    properties = schemas(doc)["EndpointMetadata"]["properties"]
    for key, value in choice.metadata().items():
        assert key in properties, key
        if "pattern" in properties[key]:
            assert re.match(properties[key]["pattern"], value), (key, value)
        if "enum" in properties[key]:
            assert value in properties[key]["enum"], (key, value)
