"""The compiled extension's build cache (golden.native): keyed by the source's hash, published by an
atomic rename, shared by checkouts with the same source, safe when two processes build at once, and
cleaned of builds whose process was killed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from golden import native

SOURCE = textwrap.dedent(
    """
    #include <pybind11/pybind11.h>
    PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("answer", [] { return ANSWER; }); }
    """
)


def _source(folder: Path, answer: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.cpp"
    path.write_text(f"#define ANSWER {answer}\n{SOURCE}")
    return path


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    return tmp_path / "ext"


def _forbid_builds(monkeypatch):
    import torch.utils.cpp_extension

    def no_build(**kwargs):
        raise AssertionError("a published build was rebuilt")

    monkeypatch.setattr(torch.utils.cpp_extension, "load", no_build)


@pytest.mark.slow
def test_build_is_published_shared_and_rekeyed(root, tmp_path, monkeypatch):
    first = _source(tmp_path / "checkout-a", 42)
    assert native.load_extension("tiny_ext", first).answer() == 42
    key = native.build_key("tiny_ext", first)
    assert [p.name for p in root.iterdir()] == [key]  # published; no private folder left
    # a second checkout with the same source loads the published library without building
    second = _source(tmp_path / "checkout-b", 42)
    assert native.build_key("tiny_ext", second) == key
    with monkeypatch.context() as m:
        _forbid_builds(m)
        assert native.load_extension("tiny_ext", second).answer() == 42
    # another source is another key: never the old library
    changed = _source(tmp_path / "checkout-c", 7)
    assert native.build_key("tiny_ext", changed) != key


def test_dead_builds_are_removed_and_live_ones_kept(root):
    root.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = root / f".tiny-0123.{dead_pid}.build"
    live = root / f".tiny-0123.{os.getpid()}.build"
    other = root / f".other-0123.{dead_pid}.build"
    for folder in (stale, live, other):
        folder.mkdir()
    assert native.remove_dead_builds(root, "tiny-0123") == [stale]
    assert not stale.exists() and live.exists() and other.exists()


@pytest.mark.slow
def test_two_processes_building_at_once_both_load_it(root, tmp_path):
    source = _source(tmp_path / "src", 5)
    code = (
        "import sys; from pathlib import Path; from golden import native; "
        "print(native.load_extension('tiny_ext', Path(sys.argv[1])).answer())"
    )
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(root)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(source)], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outputs == ["5", "5"]
    assert [p.name for p in root.iterdir()] == [native.build_key("tiny_ext", source)]
