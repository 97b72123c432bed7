"""A real ``dagster-webserver`` on 127.0.0.1 loads workspace.yaml and lists the assets over GraphQL."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, query: str) -> dict:
    req = urllib.request.Request(  # noqa: S310 - a local URL of our own
        url, data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - our own local webserver
        return json.loads(resp.read())


@pytest.mark.slow
def test_webserver_serves_the_asset_graph_over_graphql(tmp_path):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    webserver = Path(sys.executable).with_name("dagster-webserver")
    cmd = [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")]
    log = open(tmp_path / "webserver.log", "wb")  # noqa: SIM115 - the server writes it until the test stops it
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        nodes = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                data = _post(f"{base}/graphql", "{ assetNodes { assetKey { path } } }")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
                continue
            nodes = data.get("data", {}).get("assetNodes")
            if nodes:  # empty while the code location is still loading
                break
            time.sleep(1)
        assert nodes, f"no asset nodes served; log:\n{(tmp_path / 'webserver.log').read_text()[-3000:]}"
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert keys == {
            "decoded_frames",
            "reference_labels",
            "specialized_models",
            "difference_detectors",
            "optimized_cascade",
            "query_results",
            "day_answers",  # camera x day (docs/camera_life.md)
            "night_labels",
            "night_challenger",
        }
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the webserver and the code server it spawned
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
