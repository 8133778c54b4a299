"""Every public API endpoint against bad input: each call answers or refuses with a clear message, and the app
keeps serving. Endpoints are read from ``view_api()``, so a new tab is covered as soon as it exists."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

# Endpoints that start a job (their inputs are checked when the job runs; see the area's job tests) or whose
# cost does not depend on their input.
SKIPPED = {"/contexts_train", "/similarity_export", "/similarity_flaws"}
# Cheap settings for endpoints whose defaults are slow (the inputs under test stay untouched).
CHEAP = {"/explain_run": {"config_text": json.dumps({"segmenter": {"name": "grid", "rows": 2, "cols": 2},
                                                      "n_samples": 8, "eval_steps": 2})}}
BIG_TEXT = "word " * 20_000  # 100 KB
CONTROL_TEXT = "a\x00b\x07c\x1b[31m\u202e\ud7ff\x7f" * 10
GENERIC = {"", "Error", "None"}


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def bad_files(folder: Path) -> dict[str, Path]:
    """Files a user might send by mistake or on purpose, each under a plausible extension."""
    png = encoded(Image.new("RGB", (64, 64), (200, 30, 30)), "PNG")
    frames = [Image.new("RGB", (16, 16), colour).convert("P") for colour in ("red", "lime", "blue")]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    corrupt_zip = io.BytesIO()
    with zipfile.ZipFile(corrupt_zip, "w") as archive:
        archive.writestr("ref/a.png", png)
    contents = {
        "empty.png": b"",
        "truncated.png": png[: len(png) // 2],
        "wrong-type.png": b"%PDF-1.4\n% not an image at all\n",
        "one-pixel.png": encoded(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"),
        "bomb.png": encoded(Image.new("L", (20000, 20000)), "PNG"),
        "sixteen-bit.png": encoded(Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16), "PNG"),
        "cmyk.jpg": encoded(Image.new("CMYK", (64, 64), (0, 200, 200, 0)), "JPEG"),
        "palette.png": encoded(Image.new("RGB", (64, 64), "teal").convert("P"), "PNG"),
        "animated.gif": animated.getvalue(),
        "corrupt.zip": corrupt_zip.getvalue()[:-25],
        "garbage.csv": bytes(range(256)) * 4,
        "garbage.pth": b"\x80\x04not a checkpoint" * 10,
    }
    paths = {}
    for name, data in {**contents, "good.png": png}.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def is_file_parameter(parameter: dict[str, Any]) -> bool:
    return "filepath" in parameter["python_type"]["type"]


def arguments(parameters: list[dict[str, Any]], overrides: dict[str, Any], good_file: Path) -> dict[str, Any]:
    """Keyword arguments: the overrides, else each parameter's default, else a good image for a file and
    the example value for anything else."""
    values: dict[str, Any] = {}
    for parameter in parameters:
        name = parameter["parameter_name"]
        if name in overrides:
            values[name] = overrides[name]
        elif is_file_parameter(parameter):
            many = parameter["python_type"]["type"].startswith("list")
            values[name] = [handle_file(str(good_file))] if many else handle_file(str(good_file))
        elif not parameter["parameter_has_default"]:
            values[name] = parameter.get("example_input")
    return values


def assert_clear(client, endpoint: str, kwargs: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    try:
        client.predict(api_name=endpoint, **kwargs)
    except AppError as error:
        message = str(error).strip()
        assert message not in GENERIC and "Traceback" not in message, f"{endpoint} {kwargs}: {message!r}"
        assert "object at 0x" not in message, f"{endpoint}: {message!r}"


@pytest.fixture(scope="module")
def endpoints(client) -> dict[str, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    return {name: spec["parameters"] for name, spec in info.items() if name not in SKIPPED}


def test_every_file_input_refuses_bad_files_clearly(client, endpoints, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = bad_files(tmp_path)
    good = files.pop("good.png")
    covered = 0
    for endpoint, parameters in endpoints.items():
        for parameter in filter(is_file_parameter, parameters):
            many = parameter["python_type"]["type"].startswith("list")
            for path in files.values():
                value = [handle_file(str(path))] if many else handle_file(str(path))
                overrides = {**CHEAP.get(endpoint, {}), parameter["parameter_name"]: value}
                assert_clear(client, endpoint, arguments(parameters, overrides, good))
                covered += 1
    assert covered >= 12 * 10
    assert client.predict(api_name="/jobs_list") is not None  # still serving


def test_every_text_input_takes_huge_and_control_character_text(client, endpoints,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    good = bad_files(tmp_path)["good.png"]
    covered = 0
    for endpoint, parameters in endpoints.items():
        for parameter in parameters:
            if parameter["python_type"]["type"] != "str" or "Literal" in parameter["python_type"]["type"]:
                continue
            for text in (BIG_TEXT, CONTROL_TEXT):
                overrides = {**CHEAP.get(endpoint, {}), parameter["parameter_name"]: text}
                assert_clear(client, endpoint, arguments(parameters, overrides, good))
                covered += 1
    assert covered >= 10
    assert client.predict(api_name="/jobs_list") is not None
