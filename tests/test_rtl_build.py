"""`python -m rtl build` from a clean checkout: the smallest board bitstream (the icebreaker, the
event router alone, one lane, two steps) is built by the README's command in a fresh process, and
builds that differ get folders of their own."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtl.cli import build_parser, default_build_folder
from tests.rtl_traces import SPIRAL_PATH

SMALLEST = ["--board", "icebreaker", "--blocks", "router", "--steps", "2", "--lanes", "router=1"]


@pytest.mark.slow
def test_smallest_board_build_from_a_fresh_process(tmp_path):
    trace = str(Path(SPIRAL_PATH).resolve())
    result = subprocess.run(
        [sys.executable, "-m", "rtl", "build", "--trace", trace, *SMALLEST],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folders = list((tmp_path / "out" / "build").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("icebreaker-router-")
    report = json.loads((folders[0] / "build.json").read_text())
    bitstream = tmp_path / report["bitstream"]  # relative to where the command ran
    assert bitstream.is_file() and bitstream.stat().st_size == report["bitstream_bytes"] > 50_000
    assert report["blocks"] == ["router"] and report["lanes"] == {"router": 1} and report["steps"] == 2
    used = report["utilisation"]["ICESTORM_LC"]
    assert 0 < used["used"] <= used["available"] == 5280
    assert f"wrote {report['bitstream']} ({report['bitstream_bytes']} bytes)" in result.stdout


def _args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["build", "--trace", SPIRAL_PATH, "--board", "icebreaker", *extra])


def test_different_builds_never_share_a_default_folder():
    forward = default_build_folder(_args("--blocks", "router", "accumulate", "--lanes", "accumulate=1"))
    influence = default_build_folder(_args("--blocks", "influence", "--steps", "2", "--lanes", "influence=1"))
    shorter = default_build_folder(_args("--blocks", "influence", "--steps", "1", "--lanes", "influence=1"))
    again = default_build_folder(_args("--blocks", "influence", "--steps", "2", "--lanes", "influence=1"))
    assert len({forward, influence, shorter}) == 3 and influence == again
    assert forward.parent == Path("out/build") and forward.name.startswith("icebreaker-router-accumulate-")
