"""A worker serving a model repository (models/repository.py), end to end: a real
nats-server, the real worker process, real models from the shared test data. Each
model-version is its own endpoint and subject; versions come and go while it runs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Callable

import nats
import pytest
import yaml
from jsonschema import Draft7Validator
from nats.aio.client import Client
from referencing import Registry
from referencing.jsonschema import DRAFT7

from inference_server.wire import contract as c

from .conftest import SHARED
from .procs import NatsServer, WorkerProcess
from .test_contract import ASYNCAPI, DOC_URI

V1_MODEL = SHARED / "more-models" / "mobilenet_v1_0.5_160_quant.tflite"
# Generous: a worker loads and warms up a model on a shared, busy machine.
CHANGE_DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path_factory.mktemp("nats"))
    yield srv
    srv.stop()


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[Client]:
    conn = await nats.connect(server.url)
    yield conn
    await conn.close()


def link(repo: Path, rel: str, target: Path) -> None:
    """A model file of the shared test data, into the repository."""
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def shouting_labels(labels_file: Path) -> str:
    """The ImageNet labels in capitals: a labels.txt the results show came from it."""
    return labels_file.read_text().upper()


async def start_worker(tmp: Path, server: NatsServer, name: str,
                       *args: str) -> WorkerProcess:
    worker = WorkerProcess(tmp, name, "--nats-url", server.url, *args,
                           env={"RUNTIME": "litert"})
    await asyncio.to_thread(worker.wait_ready, server.url)
    return worker


def line_of(log: str, *words: str) -> int:
    """The number of the first log line holding every word."""
    return next(i for i, line in enumerate(log.splitlines()) if all(w in line for w in words))


async def classify(nc: Client, model: str, version: int, image: bytes) -> dict[str, Any]:
    msg = await nc.request(c.infer_subject(model, version, c.KIND_CLI, "me"), image,
                           timeout=30)
    return json.loads(msg.data)


async def info_of(nc: Client, worker: str) -> dict[str, Any]:
    """The worker's $SRV.INFO answer."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(c.WORKERS_INFO_SUBJECT, b"", reply=inbox)
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            info = json.loads(msg.data)
            if info["metadata"][c.META_WORKER] == worker:
                return info
    finally:
        await sub.unsubscribe()


async def until(nc: Client, worker: str,
                ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The worker's info once `ready` holds for it."""
    end = time.monotonic() + CHANGE_DEADLINE_S
    while True:
        info = await info_of(nc, worker)
        if ready(info):
            return info
        if time.monotonic() > end:
            raise AssertionError(f"never came: {json.dumps(info, indent=1)}")
        await asyncio.sleep(0.2)


def served(info: dict[str, Any]) -> str:
    return info["metadata"][c.META_MODELS]


def errors(info: dict[str, Any]) -> dict[str, str]:
    return json.loads(info["metadata"][c.META_MODEL_ERRORS])


def worker_info_schema() -> Draft7Validator:
    doc = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    registry = Registry().with_resource(DOC_URI, DRAFT7.create_resource(doc))
    return Draft7Validator({"$ref": f"{DOC_URI}#/components/schemas/WorkerInfo"},
                           registry=registry)


async def test_two_models_each_answer_on_their_own_subject(
        tmp_path: Path, server: NatsServer, nc: Client, quant_model_path: Path,
        labels_file: Path, image_bytes: dict[str, bytes]) -> None:
    repo = tmp_path / "repo"
    link(repo, "imagenet/1/model.tflite", quant_model_path)
    link(repo, "small/4/model.tflite", V1_MODEL)
    (repo / "small/4/labels.txt").write_text(shouting_labels(labels_file))
    (repo / "small/4/model.yaml").write_text("display_name: Small MobileNet\ntop_k: 2\n")
    worker = await start_worker(tmp_path, server, "repo-two", "--models-dir", str(repo))
    try:
        cat = image_bytes["cat.bmp"]
        big = await classify(nc, "imagenet", 1, cat)
        assert (big["model"], big["version"], big["task"]) == ("imagenet", 1,
                                                               c.TASK_CLASSIFICATION)
        assert big["predictions"][0]["label"] == "Egyptian cat"
        assert len(big["predictions"]) == 3  # the worker's --top-k
        small = await classify(nc, "small", 4, cat)
        assert (small["model"], small["version"]) == ("small", 4)
        assert len(small["predictions"]) == 2  # model.yaml's top_k
        assert all(p["label"] == p["label"].upper() for p in small["predictions"])
        assert "CAT" in small["predictions"][0]["label"]
        # Nobody serves these: the request fails at once, never answered by another model.
        for model, version in (("imagenet", 2), ("small", 1), ("other", 1)):
            with pytest.raises(nats.errors.NoRespondersError):
                await classify(nc, model, version, cat)
        info = await info_of(nc, "repo-two")
        worker_info_schema().validate(info)
        assert served(info) == "imagenet@1 small@4" and errors(info) == {}
        endpoints = {e["name"]: e for e in info["endpoints"]}
        assert sorted(endpoints) == ["imagenet-1", "small-4"]
        small_meta = endpoints["small-4"]["metadata"]
        assert endpoints["small-4"]["subject"] == c.endpoint_subject("small", 4)
        assert small_meta[c.META_DISPLAY_NAME] == "Small MobileNet"
        assert small_meta[c.META_INPUT] == "160x160x3"
        assert small_meta[c.META_LABELS_SOURCE] == c.LABELS_FROM_FILE
        assert endpoints["imagenet-1"]["metadata"][c.META_INPUT] == "224x224x3"
        assert (small_meta[c.META_LABELS_SHA256]
                != endpoints["imagenet-1"]["metadata"][c.META_LABELS_SHA256])
    finally:
        await asyncio.to_thread(worker.stop)


async def test_versions_come_and_go_while_it_serves(
        tmp_path: Path, server: NatsServer, nc: Client, quant_model_path: Path,
        image_bytes: dict[str, bytes]) -> None:
    repo = tmp_path / "repo"
    link(repo, "net/1/model.tflite", V1_MODEL)
    worker = await start_worker(tmp_path, server, "repo-live", "--models-dir", str(repo))
    cat = image_bytes["cat.bmp"]
    try:
        assert (await classify(nc, "net", 1, cat))["version"] == 1
        # Version 2 appears: served once loaded and warmed up, version 1 goes on.
        staging = tmp_path / "staging"
        link(staging, "2/model.tflite", quant_model_path)
        (staging / "2").rename(repo / "net" / "2")
        info = await until(nc, "repo-live", lambda i: served(i) == "net@1 net@2")
        assert [e["name"] for e in info["endpoints"]] == ["net-1", "net-2"]
        v2 = await classify(nc, "net", 2, cat)
        assert (v2["version"], v2["predictions"][0]["label"]) == (2, "Egyptian cat")
        assert (await classify(nc, "net", 1, cat))["version"] == 1
        # A broken version 3: the others serve on, and the worker says why.
        (repo / "net" / "3").mkdir()
        (repo / "net" / "3" / "model.tflite").write_bytes(b"not a model at all" * 100)
        info = await until(nc, "repo-live", lambda i: "net@3" in errors(i))
        assert served(info) == "net@1 net@2"
        assert (await classify(nc, "net", 2, cat))["version"] == 2
        with pytest.raises(nats.errors.NoRespondersError):
            await classify(nc, "net", 3, cat)
        # Version 1 goes: drained, then gone; version 2 serves on.
        shutil.rmtree(repo / "net" / "1")
        info = await until(nc, "repo-live", lambda i: served(i) == "net@2")
        assert [e["name"] for e in info["endpoints"]] == ["net-2"]
        with pytest.raises(nats.errors.NoRespondersError):
            await classify(nc, "net", 1, cat)
        assert (await classify(nc, "net", 2, cat))["version"] == 2
        # The broken version removed: its error goes with it.
        shutil.rmtree(repo / "net" / "3")
        await until(nc, "repo-live", lambda i: errors(i) == {})
    finally:
        await asyncio.to_thread(worker.stop)
    assert worker.proc.returncode == 0, worker.output()
    log = worker.output()
    # Loaded and warmed up before its endpoint was added; drained before freed.
    assert line_of(log, "loading model version", "net@2") < line_of(log, "model served",
                                                                      "net@2")
    assert line_of(log, "draining", "net@1") < line_of(log, "model removed", "net@1")


async def test_serve_picks_a_subset(tmp_path: Path, server: NatsServer, nc: Client,
                                    quant_model_path: Path) -> None:
    repo = tmp_path / "repo"
    link(repo, "a/1/model.tflite", V1_MODEL)
    link(repo, "a/2/model.tflite", V1_MODEL)
    link(repo, "b/1/model.tflite", quant_model_path)
    link(repo, "c/5/model.tflite", V1_MODEL)
    worker = await start_worker(tmp_path, server, "repo-subset", "--models-dir", str(repo),
                          "--serve", "a@2,b")
    try:
        info = await info_of(nc, "repo-subset")
        assert served(info) == "a@2 b@1" and errors(info) == {}
    finally:
        await asyncio.to_thread(worker.stop)


async def test_a_MODEL_is_served_under_its_file_stem(
        tmp_path: Path, server: NatsServer, nc: Client, quant_model_path: Path,
        image_bytes: dict[str, bytes]) -> None:
    worker = await start_worker(tmp_path, server, "one-model", "--model",
                          f"tflite:{quant_model_path}")
    try:
        info = await info_of(nc, "one-model")
        assert served(info) == "mobilenet_v2_1_0_224_quant@1"
        body = await classify(nc, "mobilenet_v2_1_0_224_quant", 1, image_bytes["cat.bmp"])
        assert (body["model"], body["version"]) == ("mobilenet_v2_1_0_224_quant", 1)
    finally:
        await asyncio.to_thread(worker.stop)
