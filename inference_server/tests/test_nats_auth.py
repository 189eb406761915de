"""The worker on a locked-down NATS: TLS (server name verified, client certificate),
its role nkey and the role permissions of deploy/nats/permissions.conf. Wrong
credentials, a wrong CA and a subscription outside its permissions are each said
loudly in its log while it keeps running."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from inference_server.wire import contract as c

from .procs import WorkerProcess, quant_subject
from .secured_nats import SecuredNats, make_tls, user_seed


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredNats]:
    srv = SecuredNats(tmp_path_factory.mktemp("secured"))
    yield srv
    srv.stop()


def start_worker(tmp: Path, name: str, model: Path, env: dict[str, str],
                 *args: str) -> WorkerProcess:
    return WorkerProcess(tmp, name, "--model", f"tflite:{model}", *args, env=env)


def test_worker_serves_over_tls_with_its_nkey(secured: SecuredNats, quant_model_path: Path,
                                              tmp_path: Path,
                                              image_bytes: dict[str, bytes]) -> None:
    worker = start_worker(tmp_path, "tls-worker", quant_model_path, secured.worker_env())
    try:
        worker.wait_ready(secured.url, **secured.client_opts("hub"))

        async def classify() -> tuple[dict, dict]:
            hub = await nats.connect(secured.url, **secured.client_opts("hub"))
            cli = await nats.connect(secured.url, **secured.client_opts("cli"))
            try:
                live = await hub.request(quant_subject(c.KIND_LIVE, "tlssession"),
                                         image_bytes["cat.bmp"], timeout=30, headers={
                                             c.HEADER_SESSION_ID: "tlssession",
                                             c.HEADER_FRAME_SEQ: "1",
                                             c.HEADER_CONTENT_TYPE: "image/bmp"})
                by_cli = await cli.request(quant_subject(c.KIND_CLI, "mycat"),
                                           image_bytes["cat.bmp"], timeout=30)
                return json.loads(live.data), json.loads(by_cli.data)
            finally:
                await hub.close()
                await cli.close()

        live, by_cli = asyncio.run(classify())
        for body in (live, by_cli):
            assert body["type"] == "result", body
            assert body["predictions"][0]["label"] == "Egyptian cat"
        # Subscribing, answering, replay discovery: nothing the worker did was refused.
        assert "not permitted" not in worker.output()
    finally:
        worker.stop()


def test_unknown_nkey_is_logged_with_server_and_role_and_retried(
        secured: SecuredNats, quant_model_path: Path, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.nk"
    user_seed(stranger)
    env = {**secured.worker_env(), "NATS_NKEY": str(stranger)}
    worker = start_worker(tmp_path, "stranger", quant_model_path, env)
    try:
        worker.wait_for_log('"retry_in_s"')
        worker.wait_for_log("the server refused the credentials")
        line = next(ln for ln in worker.output().splitlines()
                    if "the server refused the credentials" in ln)
        entry = json.loads(line)
        assert entry["level"] == "error" and entry["role"] == "worker"
        assert entry["servers"] == secured.url and "Authorization Violation" in entry["error"]
        assert str(stranger) in entry["credentials"]
        # It keeps trying (with backoff) instead of exiting.
        assert worker.proc.poll() is None
    finally:
        worker.stop()


def test_a_ca_that_did_not_sign_the_server_is_a_tls_failure(
        secured: SecuredNats, quant_model_path: Path, tmp_path: Path) -> None:
    other = make_tls(tmp_path)
    env = {**secured.worker_env(), "NATS_TLS_CA": str(other.ca)}
    worker = start_worker(tmp_path, "wrong-ca", quant_model_path, env)
    try:
        worker.wait_for_log("TLS failed")
        assert worker.proc.poll() is None
    finally:
        worker.stop()


def test_a_queue_group_outside_the_permissions_is_refused_loudly(
        secured: SecuredNats, quant_model_path: Path, tmp_path: Path) -> None:
    worker = start_worker(tmp_path, "rogue-group", quant_model_path, secured.worker_env(),
                          "--queue-group", "thieves")
    try:
        worker.wait_for_log("not permitted for this role")
        line = next(ln for ln in worker.output().splitlines() if "not permitted" in ln)
        entry = json.loads(line)
        assert entry["level"] == "error" and entry["count"] >= 1
        assert 'using queue "thieves"' in entry["error"]
    finally:
        worker.stop()
