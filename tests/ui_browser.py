"""The real UIs for checks and for the docs' screenshots: servers on 127.0.0.1, and headless Chromium driven by
Selenium where a page needs a click (the schedule's tick preview, MLflow's side panel).

``make ui-check`` uses it on two synthetic cameras in temporary homes; ``make ui-shots`` (``python -m
tests.ui_browser``) serves this checkout's own ``dagster_home`` and MLflow store after ``make demo`` and
shoots the pages of the real cameras into ``docs/img/``. Every server runs in its own session and is stopped by
its process group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).is_file()), None)
CHROMEDRIVER = next(
    (p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and Path(p).is_file()), None
)
LOCATION, REPOSITORY, JOB, SCHEDULE = "noscope", "__repository__", "train_camera", "retrain_cameras"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310 - a local URL of our own
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - our own local servers
        return json.loads(resp.read())


class Server:
    """A server in its own session, so stopping it by its process group also stops what it spawned."""

    def __init__(self, name: str, cmd: list[str], env: dict, log_dir: Path) -> None:
        self.name, self.log_path = name, log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes it until stop() closes it
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.tail()}")

    def wait_http(self, url: str, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.alive()
            try:
                with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - our own local servers
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        raise RuntimeError(f"{self.name} did not answer {url}:\n{self.tail()}")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        finally:
            self._log.close()


def mlflow_server_cmd(port: int, backend_uri: str, artifacts: str | None) -> list[str]:
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend_uri,
    ]  # fmt: skip
    return cmd + (["--artifacts-destination", artifacts] if artifacts else [])


class Browser:
    """Headless Chromium through Selenium and Debian's chromedriver: open, wait for text, click, screenshot."""

    def __init__(self, width: int = 1440, height: int = 1000) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
            opts.add_argument(arg)
        opts.add_argument(f"--window-size={width},{height}")
        self.driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(120)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.driver.quit()

    def open(self, url: str, wait_for: str | None = None, timeout_s: float = 90) -> None:
        self.driver.get(url)
        if wait_for:
            self.wait_text(wait_for, timeout_s)

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_text(self, text: str, timeout_s: float = 90) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout_s, poll_frequency=0.5).until(lambda d: text in self.text())

    def click(self, text: str, tag: str = "button", timeout_s: float = 30) -> None:
        """Click the first visible ``tag`` whose text contains ``text``."""
        self.click_xpath(f"//{tag}[contains(normalize-space(.), {json.dumps(text)})]", timeout_s)

    def click_xpath(self, xpath: str, timeout_s: float = 30) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout_s).until(ec.element_to_be_clickable((By.XPATH, xpath))).click()

    def show_markdown(self, index: int = 0, timeout_s: float = 30) -> None:
        """Open the ``index``-th "[Show Markdown]" metadata entry of a Dagster asset page (a picture, here)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        xpath = "//a[contains(., 'Show Markdown')]"
        WebDriverWait(self.driver, timeout_s).until(lambda d: len(d.find_elements(By.XPATH, xpath)) > index)
        link = self.driver.find_elements(By.XPATH, xpath)[index]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
        link.click()
        WebDriverWait(self.driver, timeout_s).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=dialog] img"))

    def try_click(self, text: str, tag: str = "button", timeout_s: float = 5) -> bool:
        from selenium.common.exceptions import WebDriverException

        try:
            self.click(text, tag, timeout_s)
            return True
        except WebDriverException:
            return False

    def shot(self, out: Path, settle_s: float = 2.0, width: int | None = None, above: str | None = None) -> Path:
        """The viewport as a PNG; ``width`` shrinks it to a small palette PNG for the docs; ``above`` (an XPath)
        crops it just above that element."""
        time.sleep(settle_s)  # charts and fonts finish drawing after the text is there
        out.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(out))
        if above:
            from selenium.webdriver.common.by import By

            top = self.driver.find_element(By.XPATH, above).rect["y"]
            scale = self.driver.execute_script("return window.devicePixelRatio") or 1
            crop_png(out, int((top - 8) * scale))
        if width:
            shrink_png(out, width)
        return out


def crop_png(path: Path, bottom: int) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
    if 0 < bottom < im.height:
        im.crop((0, 0, im.width, bottom)).save(path)


def shrink_png(path: Path, width: int) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def dagster_gql(base: str, query: str, variables: dict | None = None) -> dict:
    out = http_json(f"{base}/graphql", {"query": query, "variables": variables or {}})
    if "errors" in out:
        raise RuntimeError(out["errors"])
    return out["data"]


def wait_code_location(server: Server, base: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server.alive()
        try:
            if dagster_gql(base, "{ assetNodes { id } }")["assetNodes"]:  # empty while the location loads
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise RuntimeError(f"the Dagster webserver did not serve the code location:\n{server.tail()}")


def preview_schedule_tick(browser: Browser, base: str) -> str:
    """The schedule page with its tick preview open ("Preview tick result" → "Continue"): the run requests the
    next tick would launch. Returns the page's text."""
    dagster_gql(base, "mutation { setNuxSeen }")  # the "Join the community" dialog would cover the page
    browser.open(f"{base}/locations/{LOCATION}/schedules/{SCHEDULE}", wait_for="Preview tick result")
    browser.click("Preview tick result")
    browser.click("Continue")  # the first step asks which tick to evaluate
    browser.wait_text("Requested runs", timeout_s=120)
    return browser.text()


def open_run_request(browser: Browser, index: int = 0) -> str:
    """In the open tick preview, the ``index``-th run request's tags and config (its "{}" action button)."""
    from selenium.webdriver.common.by import By

    icons = [e for e in browser.driver.find_elements(By.CSS_SELECTOR, "[role=dialog] button") if not e.text.strip()]
    icons[index].click()
    browser.wait_text("Run configuration", timeout_s=30)
    return browser.text()


def close_mlflow_assistant(browser: Browser) -> None:
    """MLflow 3.17 opens its "MLflow Assistant" panel on first load, over a third of every page; the browser
    remembers it closed."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    for el in browser.driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        try:
            if el.is_displayed():
                el.click()
                return
        except WebDriverException:
            continue


def mlflow_training_runs(m_base: str) -> tuple[str, dict[str, str]]:
    """(experiment id, camera -> its newest parent training run id)."""
    api = f"{m_base}/api/2.0/mlflow"
    [exp] = [e for e in http_json(f"{api}/experiments/search?max_results=100")["experiments"] if e["name"] == "noscope"]
    body = {"experiment_ids": [exp["experiment_id"]], "max_results": 200, "order_by": ["attributes.start_time DESC"]}
    parents: dict[str, str] = {}
    for r in http_json(f"{api}/runs/search", body)["runs"]:
        tags = {t["key"]: t["value"] for t in r["data"].get("tags", [])}
        if tags.get("kind") == "training" and "camera" in tags:
            parents.setdefault(tags["camera"], r["info"]["run_id"])
    return exp["experiment_id"], parents


def _exact(text: str) -> str:
    """XPath of the first element whose own text is ``text``."""
    return f"(//*[normalize-space(text())={json.dumps(text)}])[1]"


@contextlib.contextmanager
def serve(env: dict[str, str], tracker) -> Iterator[tuple[str, str]]:
    """Dagster's webserver over ``env``'s instance and code location and an MLflow server over ``tracker``'s store,
    on free 127.0.0.1 ports: (Dagster's base URL, MLflow's) once both answer; both stopped on leaving."""
    env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    d_port, m_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="noscope-ui-shots-"))
    d_cmd = [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(d_port)]
    servers: list[Server] = []
    try:
        dagster = Server("dagster", [*d_cmd, "-w", "workspace.yaml"], env, logs)
        servers.append(dagster)
        mlflow = Server("mlflow", mlflow_server_cmd(m_port, tracker.uri(), tracker.artifact_location()), env, logs)
        servers.append(mlflow)
        d_base, m_base = f"http://127.0.0.1:{d_port}", f"http://127.0.0.1:{m_port}"
        wait_code_location(dagster, d_base)
        mlflow.wait_http(f"{m_base}/health")
        yield d_base, m_base
    finally:
        for s in reversed(servers):
            s.stop()


def shoot_docs(out_dir: Path, width: int = 1100) -> list[Path]:
    """Serve this checkout's demo state (dagster_home, .noscope/mlflow) and shoot the pages the docs show."""
    from pipelines.mlflow_text import compare_url, experiment_url
    from pipelines.servers import dagster_home
    from pipelines.tracking import MlflowTracker

    tracker = MlflowTracker()
    shots: list[Path] = []
    with serve({**os.environ, "DAGSTER_HOME": str(dagster_home())}, tracker) as (d_base, m_base):
        exp_id, parents = mlflow_training_runs(m_base)
        cam = "vtest-long"
        with Browser(1440, 1000) as b:
            dagster_gql(d_base, "mutation { setNuxSeen }")
            b.open(f"{d_base}/assets/optimized_cascade?view=events&partition={cam}", "speedup_x")
            shots.append(b.shot(out_dir / "ui_asset_optimized_cascade.png", width=width))
            b.show_markdown(0)  # the frontier plot, as the asset page shows it
            shots.append(b.shot(out_dir / "ui_frontier_plot.png", width=width))
        with Browser(1440, 1500) as b:
            b.open(f"{d_base}/assets/query_results?view=events&partition={cam}", "intervals")
            shots.append(b.shot(out_dir / "ui_asset_query_results.png", width=width))
            b.show_markdown(0)  # the results timeline
            shots.append(b.shot(out_dir / "ui_timeline.png", width=width))
        with Browser(1440, 1000) as b:
            b.open(f"{d_base}/locations/{LOCATION}/jobs/{JOB}/runs", cam)
            shots.append(b.shot(out_dir / "ui_job_runs.png", width=width))
            preview_schedule_tick(b, d_base)
            shots.append(b.shot(out_dir / "ui_schedule_preview.png", width=width))
            open_run_request(b, 0)
            shots.append(b.shot(out_dir / "ui_schedule_preview_tags.png", width=width))
        with Browser(1600, 1400) as b:
            b.open(experiment_url(m_base, exp_id), "noscope")
            close_mlflow_assistant(b)
            runs = [parents[c] for c in ("vtest", "vtest-long") if c in parents]
            b.open(compare_url(m_base, runs, [exp_id]), "Comparing 2 Runs")
            close_mlflow_assistant(b)
            b.click_xpath(_exact("Visualizations"))  # folded: the run details, params and metrics side by side
            b.click_xpath(_exact("Show diff only"))  # the parameters that differ
            b.click_xpath("(//*[normalize-space(text())='Show diff only'])[2]")  # and the metrics
            shots.append(b.shot(out_dir / "ui_mlflow_compare.png", settle_s=4, width=width))
            b.open(f"{m_base}/#/models/noscope-cascade-{cam}/versions/1?workflowType=machine_learning", "Version 1")
            close_mlflow_assistant(b)
            # MLflow draws long tag values over the next rows: the page down to the description is what says why
            shots.append(b.shot(out_dir / "ui_mlflow_version.png", settle_s=4, width=width, above=_exact("Tags")))
    return shots


def shoot_days(demo: Path, out_dir: Path, width: int = 1100, day: str | None = None) -> list[Path]:
    """Serve a ``make days-demo`` folder (its dagster_home, registry, artifacts and MLflow store) and shoot the
    camera x day grid with ``day`` selected (default: the last answered), the night's champion decision in the
    MLflow registry, and copy the history chart the night logged to the cascade's MLflow run."""
    from mlflow import MlflowClient

    from pipelines.days_demo import CAMERA, demo_env
    from pipelines.tracking import MlflowTracker

    demo = demo.resolve()
    env = {**os.environ, **demo_env(demo)}
    days = sorted(p.parent.name for p in (demo / "artifacts" / CAMERA / "days").glob("*/day.json"))
    if not days:
        raise SystemExit(f"no answered day in {demo}: run make days-demo first")
    day = day or days[-1]
    tracker = MlflowTracker(root=str(demo / "mlflow"))
    client = MlflowClient(tracking_uri=tracker.uri())
    shots: list[Path] = []
    logged = [  # the history chart as the night logged it to the cascade's MLflow run (the newest logging)
        (r.info.start_time, r.info.run_id, a.path)
        for e in client.search_experiments()
        for r in client.search_runs([e.experiment_id])
        if r.data.tags.get("camera") == CAMERA
        for a in client.list_artifacts(r.info.run_id, "history")
        if a.path.endswith(".png")
    ]
    if logged:
        _, run_id, path = max(logged)
        got = Path(client.download_artifacts(run_id, path, tempfile.mkdtemp(prefix="noscope-history-")))
        shots.append(Path(shutil.copy(got, out_dir / "days_history.png")))
    with serve(env, tracker) as (d_base, m_base):
        key = urllib.parse.quote(f"{CAMERA}|{day}")
        with Browser(1440, 1250) as b:
            dagster_gql(d_base, "mutation { setNuxSeen }")
            b.open(f"{d_base}/assets/day_answers?view=partitions&partition={key}", "certified_speedup")
            shots.append(b.shot(out_dir / "ui_days_grid.png", width=width))
        versions = client.search_model_versions(f"name='noscope-cascade-{CAMERA}'")
        if len(versions) > 1:  # a night's challenger: its description says which cascade won and why
            newest = max(int(v.version) for v in versions)
            with Browser(1600, 1400) as b:
                b.open(f"{m_base}/#/models/noscope-cascade-{CAMERA}/versions/{newest}", f"Version {newest}")
                close_mlflow_assistant(b)
                shots.append(b.shot(out_dir / "ui_days_challenger.png", settle_s=4, width=width, above=_exact("Tags")))
    return shots


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    p.add_argument("--width", type=int, default=1100, help="width of the PNGs written (pixels)")
    p.add_argument("--days", type=Path, default=None, help="a make days-demo folder: shoot its days instead")
    p.add_argument("--day", default=None, help="with --days: the day selected in the grid (default: the last)")
    args = p.parse_args(argv)
    if CHROMIUM is None or CHROMEDRIVER is None:
        print("needs Chromium and its driver: apt-get install -y chromium chromium-driver", file=sys.stderr)
        return 2
    paths = (
        shoot_docs(args.out, args.width) if args.days is None else shoot_days(args.days, args.out, args.width, args.day)
    )
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
