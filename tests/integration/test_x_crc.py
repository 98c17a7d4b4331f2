"""X's CRC check answered by a real worker's ingest route and by `tanggap ingest-server`."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import orjson
import pytest

from schemas.adapters.x_crc import crc_response_token
from streams.broker import free_port
from streams.demo import stop_process
from tests.conftest import REPO, wait_for

pytestmark = pytest.mark.integration

SECRET = "integration-x-consumer-secret"
CRC_TOKEN = "MTIzNDU2Nzg5MGFiY2RlZg"


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def doors(deployment_factory, tmp_path_factory):
    deployment = deployment_factory(TANGGAP_INGEST_TOKENS="token", TANGGAP_INGEST_X_CONSUMER_SECRET=SECRET)
    worker = deployment.worker()
    port = free_port()
    log = open(tmp_path_factory.mktemp("ingest-server") / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest-server", "--port", str(port)],
                              env=deployment.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    bases = {"worker": f"http://127.0.0.1:{worker.web_port}", "ingest-server": f"http://127.0.0.1:{port}"}
    try:
        for base in bases.values():
            wait_for(lambda: get(base + "/health")[0] == 200 or None, timeout=60, message=f"{base}/health")
        yield bases
    finally:
        stop_process(server)


@pytest.mark.parametrize("door", ["worker", "ingest-server"])
def test_the_crc_check_is_answered_with_x_documented_response_token(doors, door):
    status, body = get(doors[door] + f"/ingest/x?crc_token={CRC_TOKEN}")
    assert status == 200, body
    assert orjson.loads(body) == {"response_token": crc_response_token(SECRET, CRC_TOKEN)}
    status, body = get(doors[door] + "/ingest/x")
    assert status == 400 and orjson.loads(body)["error"] == "bad_crc_token"
