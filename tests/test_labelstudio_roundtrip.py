"""A real Label Studio server in the loop: alseg's round (tasks with the model's predictions)
goes in through the API, an annotator edits the pre-annotations and submits, the project's JSON
export comes back through ``alseg import`` and is checked pixel by pixel.

The server is the ``label-studio`` executable named by ``ALSEG_LABEL_STUDIO`` (``.ci/run``
installs one into ``.ci/labelstudio-venv``, which is also used when present); it runs on
127.0.0.1 with a temporary data folder and a user token, and is stopped at the end. Label
Studio's own brush codec (``label_studio_sdk``, from the server's environment) decodes alseg's
pre-annotations and encodes the annotator's new stroke.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from alseg.project import Project, init_project, select
from tests.cli_helpers import REPO, alseg_in_process
from tests.fixtures_data import FOLDER_CLASSES, block_labels, make_image, save_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]
torch.set_num_threads(1)

SERVER_ENV = "ALSEG_LABEL_STUDIO"
CI_SERVER = REPO / ".ci" / "labelstudio-venv" / "bin" / "label-studio"
TOKEN = "alseg-test-token-0123456789"
START_TIMEOUT = 300.0
SIZE = (32, 48)
ROAD, CAR, PERSON = 0, 1, 2  # class indices of FOLDER_CLASSES (ids 0, 7, 3)
IDS = np.asarray([c["id"] for c in FOLDER_CLASSES] + [255], dtype=np.uint8)


def server_executable() -> Path:
    """The server named by ALSEG_LABEL_STUDIO (it must be one: .ci/run always sets it, after
    installing it), else .ci/labelstudio-venv's; without either (a machine without Label
    Studio, outside CI) the test skips."""
    given = os.environ.get(SERVER_ENV)
    path = Path(given) if given else CI_SERVER
    if not path.is_file() or not os.access(path, os.X_OK):
        if given:
            pytest.fail(f"{SERVER_ENV}={given} is not a label-studio executable")
        pytest.skip(
            f"no Label Studio server: set {SERVER_ENV} to a label-studio executable "
            f"(.ci/run installs one into .ci/labelstudio-venv); {path} is not one"
        )
    return path


@dataclass
class Server:
    url: str
    python: Path  # the server environment's interpreter (label_studio_sdk's brush codec)
    started_in: float

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Token {TOKEN}"}
        response = requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images/ (two sequences of 6 frames), masks/ for 4 of them, classes.yaml."""
    root = tmp_path_factory.mktemp("ls-data")
    rng = np.random.default_rng(3)
    stems = [f"{seq}_{i:06d}" for seq in ("drive", "lane") for i in range(6)]
    for stem in stems:
        save_png(root / "images" / f"{stem}.png", make_image(rng, SIZE))
    for stem in ("drive_000000", "drive_000003", "lane_000000", "lane_000003"):
        save_png(root / "masks" / f"{stem}.png", IDS[block_labels(rng, SIZE, range(3))])
    classes = "".join(
        f"- {{name: {c['name']}, id: {c['id']}, color: {list(c['color'])}}}\n"
        for c in FOLDER_CLASSES
    )
    (root / "classes.yaml").write_text(classes)
    return root


@pytest.fixture(scope="module")
def label_studio(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    executable = server_executable()
    port = free_port()
    home = tmp_path_factory.mktemp("ls-home")
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(home),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(data_root),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "COLLECT_ANALYTICS": "false",
    }
    command = [str(executable), "start", "--no-browser", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--username", "annotator@example.com"]
    command += ["--password", "alseg-test-password", "--user-token", TOKEN]
    log = (home / "server.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"label-studio exited with {process.returncode}: {tail(home)}")
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"label-studio not answering after {START_TIMEOUT:.0f} s: {tail(home)}")
            try:
                answer = requests.get(
                    f"{url}/api/projects", headers={"Authorization": f"Token {TOKEN}"}, timeout=5
                )
                if answer.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(1.0)
        yield Server(url, executable.parent / "python", time.monotonic() - started)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        log.close()


def tail(home: Path) -> str:
    return " | ".join((home / "server.log").read_text(errors="replace").splitlines()[-5:])


def label_studio_brush(server: Server, request: dict) -> dict:
    """Label Studio's own brush codec (label_studio_sdk, in the server's environment):
    ``decode``: rle lists -> alpha masks; ``encode``: 0/1 masks -> rle lists."""
    script = (
        "import json, sys\nimport numpy as np\n"
        "from label_studio_sdk.converter.brush import decode_rle, mask2rle\n"
        "r = json.load(sys.stdin)\n"
        "h, w = r['height'], r['width']\n"
        "out = {'decoded': [decode_rle(x).reshape(h, w, 4)[:, :, 3].tolist() for x in "
        "r['decode']], 'encoded': [mask2rle(np.asarray(m, dtype=np.uint8) * 255) for m in "
        "r['encode']]}\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(server.python), "-c", script],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def indices_of(path: Path) -> np.ndarray:
    """Class indices (255 ignore) of a PNG of classes.yaml ids."""
    lookup = np.full(256, -1, dtype=np.int64)
    lookup[IDS] = np.arange(len(IDS))
    lookup[255] = 255
    with Image.open(path) as img:
        indices = lookup[np.asarray(img)]
    assert (indices >= 0).all()
    return indices


def test_label_studio_round_trip(
    label_studio: Server,
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
):
    round_trip_started = time.monotonic()
    project = tmp_path / "proj"
    init_project(
        project,
        data_root / "images",
        data_root / "classes.yaml",
        data_root / "masks",
        epochs=0.1,
        min_iterations=2,
        batch_size=2,
    )
    result = select(project, 3, strategy="entropy", device="cpu")
    assert result.quality is not None and result.trained_on == 4
    folder = result.folder / "label_studio"
    tasks = json.loads((folder / "tasks.json").read_text())
    stems = [Path(p.image).stem for p in result.picks]
    predicted = {s: indices_of(result.folder / "predictions" / f"{s}.png") for s in stems}

    # alseg's pre-annotations, decoded by Label Studio's own codec, are the predicted masks
    regions = [(t, r) for t in tasks for r in t["predictions"][0]["result"]]
    decoded = label_studio_brush(
        label_studio,
        {
            "height": SIZE[0],
            "width": SIZE[1],
            "decode": [r["value"]["rle"] for _, r in regions],
            "encode": [],
        },
    )["decoded"]
    names = [c["name"] for c in FOLDER_CLASSES]
    for (task, region), alpha in zip(regions, decoded, strict=True):
        stem = Path(task["data"]["image"]).stem
        index = names.index(region["value"]["brushlabels"][0])
        np.testing.assert_array_equal(np.asarray(alpha) == 255, predicted[stem] == index)

    # the project, its images served from the local-files storage, the tasks with predictions
    config = (folder / "config.xml").read_text()
    created = label_studio.api(
        "POST", "/api/projects", json={"title": "alseg round 1", "label_config": config}
    ).json()
    pid = created["id"]
    label_studio.api(
        "POST",
        "/api/storages/localfiles",
        json={
            "project": pid,
            "path": str(data_root / "images"),
            "use_blob_urls": True,
            "title": "images",
        },
    )
    imported = label_studio.api("POST", f"/api/projects/{pid}/import", json=tasks).json()
    assert (imported["task_count"], imported["prediction_count"]) == (3, 3)
    listed = label_studio.api("GET", "/api/tasks", params={"project": pid, "page_size": 100}).json()
    ids = {Path(t["data"]["image"]).stem: t["id"] for t in listed["tasks"]}
    first, second, third = stems
    served = label_studio.api("GET", "/data/local-files/", params={"d": f"images/{first}.png"})
    assert served.content == (data_root / "images" / f"{first}.png").read_bytes()

    # the annotator: task 1 erases a block of the first predicted region and paints a car
    # stroke over everything; task 2 adds a person polygon; task 3 is skipped
    task = label_studio.api("GET", f"/api/tasks/{ids[first]}").json()
    edited = [dict(r, value=dict(r["value"])) for r in task["predictions"][0]["result"]]
    erased_class = names.index(edited[0]["value"]["brushlabels"][0])
    erase = np.zeros(SIZE, dtype=bool)
    erase[0:10, 0:20] = True
    stroke = np.zeros(SIZE, dtype=bool)
    stroke[20:28, 30:44] = True
    keep = (predicted[first] == erased_class) & ~erase
    encoded = label_studio_brush(
        label_studio,
        {
            "height": SIZE[0],
            "width": SIZE[1],
            "decode": [],
            "encode": [keep.astype(int).tolist(), stroke.astype(int).tolist()],
        },
    )["encoded"]
    edited[0]["value"]["rle"] = encoded[0]
    edited.append(
        {
            "id": "stroke1",
            "from_name": "brush",
            "to_name": "image",
            "type": "brushlabels",
            "original_width": SIZE[1],
            "original_height": SIZE[0],
            "image_rotation": 0,
            "value": {"format": "rle", "rle": encoded[1], "brushlabels": ["car"]},
        }
    )
    label_studio.api(
        "POST",
        f"/api/tasks/{ids[first]}/annotations",
        json={"result": edited, "was_cancelled": False},
    )
    expected_first = predicted[first].copy()
    expected_first[erase & (predicted[first] == erased_class)] = 255
    expected_first[stroke] = CAR

    task = label_studio.api("GET", f"/api/tasks/{ids[second]}").json()
    polygon = {
        "id": "poly1",
        "from_name": "polygon",
        "to_name": "image",
        "type": "polygonlabels",
        "original_width": SIZE[1],
        "original_height": SIZE[0],
        "image_rotation": 0,
        "value": {
            "points": [[25, 25], [75, 25], [75, 50], [25, 50]],
            "closed": True,
            "polygonlabels": ["person"],
        },
    }
    label_studio.api(
        "POST",
        f"/api/tasks/{ids[second]}/annotations",
        json={"result": [*task["predictions"][0]["result"], polygon], "was_cancelled": False},
    )
    expected_second = predicted[second].copy()
    expected_second[8:16, 12:36] = PERSON  # x 25..75% of 48, y 25..50% of 32: pixel centres inside
    label_studio.api(
        "POST", f"/api/tasks/{ids[third]}/annotations", json={"result": [], "was_cancelled": True}
    )

    export = label_studio.api(
        "GET",
        f"/api/projects/{pid}/export",
        params={"exportType": "JSON", "download_all_tasks": "true"},
    ).json()
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export))

    done = alseg_in_process(
        "import",
        str(project),
        "--masks",
        str(export_file),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "imported 2 new masks" in done.stdout
        and "1 tasks of the export not annotated" in done.stdout
    )
    labels = Project.load(project)
    np.testing.assert_array_equal(indices_of(labels.label_path(first)), expected_first)
    np.testing.assert_array_equal(indices_of(labels.label_path(second)), expected_second)
    assert not labels.label_path(third).exists()
    assert set(labels.labeled) == {
        "drive_000000",
        "drive_000003",
        "lane_000000",
        "lane_000003",
        first,
        second,
    }
    with capsys.disabled():
        print(
            f"\nLabel Studio: server answered after {label_studio.started_in:.1f} s; "
            f"round trip {time.monotonic() - round_trip_started:.1f} s"
        )
