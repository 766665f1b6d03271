"""The README's commands work as written: every command in its code blocks is either run here, in
order, in a clean copy of the checkout (the tracked files only, the virtualenv linked in), with the
exit status the README states; or named in SLOW with the reason and the test that covers it instead.
A command the README gains must be put in one or the other, or this test fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# command prefix -> why it is not run here (and what runs instead)
SLOW = {
    "bash scripts/test.sh": "the test command itself",
    "bash scripts/synth_report.sh": "20 minutes of synthesis (tests/test_rtl_synth.py synthesises small blocks)",
    ".venv/bin/python -m golden bench": "minutes at n = 128 (tests/test_golden_bench.py runs it small)",
    ".venv/bin/python -m rtl synth": "synthesis and place-and-route of n = 16 (tests/test_rtl_synth.py)",
    ".venv/bin/python -m rtl capacity": "hours of synthesis probes (tests/test_rtl_capacity.py)",
    ".venv/bin/python -m rtl sweep": "72 synthesis points, 35 minutes placed (tests/test_rtl_sweep.py)",
    ".venv/bin/python -m rtl build --board ulx3s-85f": "ECP5 place and route of three blocks (icebreaker builds run)",
    ".venv/bin/python -m golden train --numerics fixed": "1700 fixed-point iterations (tests/test_fixed_train.py)",
    ".venv/bin/python -m golden train --optimizer": "1700 iterations per rule (tests/test_fixed_train.py: both rules)",
    ".venv/bin/python -m golden fixed-errors --run": "needs the fixed-point run above (tests/test_fixed_errors.py)",
    ".venv/bin/python -m golden widths": "6 to 48 training runs (tests/test_widths.py runs a small spec)",
    ".venv/bin/python -m golden train --task cue": "600 iterations of 44 steps (tests/test_cue_task.py trains it)",
    ".venv/bin/python -m golden sweep ": "90 training runs, half an hour (tests/test_train_sweep.py runs small specs)",
    ".venv/bin/python -m golden sweep-bench": "72 training runs (tests/test_train_sweep.py runs it at 1 iteration)",
    ".venv/bin/python -m sim train --sim verilator": "20 to 60 minutes in Verilator (tests/test_sim_native.py: small)",
    ".venv/bin/python -m rtl core-build": "Yosys 0.70 stops in ABC9 on it (README); the self-test runs in simulation",
    ".venv/bin/python -m rtl prove": "solver jobs, up to 5 minutes (tests/test_rtl_formal.py runs each, and the CLI)",
    ".venv/bin/python -m sim coverage": "four Verilator builds and runs (tests/test_sim_coverage.py runs the router)",
    ".venv/bin/python -m sim core-bench": "builds the n = 8 core twice (tests/test_sim_native.py runs it at n = 4)",
}


def readme_commands(text: str) -> list[str]:
    """Commands of the indented code blocks, continuation lines joined."""
    commands, current = [], None
    for line in text.splitlines():
        if current is not None:
            current += " " + line.strip()
        elif re.match(r"^    (\.venv/bin/python -m |bash scripts/)", line):
            current = line.strip()
        else:
            continue
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        commands.append(current)
        current = None
    return commands


def split(command: str) -> tuple[str, int]:
    """(the command without its comment, the exit status the comment states; 0 if none)."""
    text, _, comment = command.partition("#")
    match = re.search(r"exit (\d+)", comment)
    return text.strip(), int(match.group(1)) if match else 0


def test_every_readme_command_is_classified():
    commands = readme_commands((ROOT / "README.md").read_text())
    assert len(commands) >= 25
    quick = [c for c in commands if not any(c.startswith(s) for s in SLOW)]
    assert len(quick) >= 15
    for prefix in SLOW:
        assert any(c.startswith(prefix) for c in commands), f"SLOW names {prefix!r}, which the README no longer has"


def _clean_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")


@pytest.mark.slow
def test_quick_readme_commands_work_as_written(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    _clean_checkout(checkout)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    ran = []
    for command in readme_commands((checkout / "README.md").read_text()):
        if any(command.startswith(s) for s in SLOW):
            continue
        text, status = split(command)
        result = subprocess.run(
            ["bash", "-c", text], cwd=checkout, capture_output=True, text=True, env=env, timeout=1200
        )
        assert result.returncode == status, f"{text}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        assert "Traceback" not in result.stderr, f"{text}\n{result.stderr[-1500:]}"
        ran.append(text)
    # what the commands promise to write is there
    for path in (
        "out/sweeps/default/results.csv",
        "out/t1/op_ratio.png",
        "runs/w0.5/metrics.json",
        "fig3.png",
        "fig3-shipped.png",
        "t.npz",
        "traces/egru.npz",
        "out/rtl/egru_influence_update.v",
        "out/calibration/calibration.png",
        "out/fixed-errors/fixed_errors.md",
    ):
        assert (checkout / path).is_file(), path
    builds = sorted(p.name for p in (checkout / "out" / "build").iterdir())
    assert len(builds) == 2 and all(b.startswith("icebreaker-") for b in builds)  # two folders, not one
    # nothing a README command writes shows up as an untracked file: all of it is git-ignored
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    written = [
        str(p.relative_to(checkout))
        for p in checkout.rglob("*")
        if p.is_file() and ".venv" not in p.relative_to(checkout).parts
    ]
    new = sorted(set(written) - tracked)
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    ignored = subprocess.run(
        ["git", "check-ignore", "--stdin"], cwd=checkout, input="\n".join(new), capture_output=True, text=True
    ).stdout.split()
    assert sorted(ignored) == new, sorted(set(new) - set(ignored))[:20]
    assert len(ran) >= 15
