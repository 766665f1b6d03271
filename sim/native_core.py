"""The core in Verilator with a native C++ harness (sim/native/core_main.cpp): no Python per cycle.

Python writes a stimulus file of commands with each payload packed by the port's Amaranth layout,
the harness runs it and prints what the core produced; this module builds the harness (once per
core configuration, cached and shared by checkouts), runs it with a progress bar over sequences,
and decodes its results. Builds go to a folder of their own and are published by renaming it, so
two runs at once never corrupt a build.

The harness simulates NativeTop: EGRUCore with its reset taken through one flip-flop. Amaranth
computes every register's next state combinationally from the reset, and Verilator re-evaluates
all logic that depends on a top-level input at every eval (twice a cycle), so a top-level reset
drags the whole next-state logic into that pass; behind a flip-flop it is computed once per edge.
The core is the same Verilog; its reset takes effect one cycle later (the harness holds it for four).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from amaranth import ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import wiring

from golden.errors import UserError
from rtl.core.egru_core import UNITS, EGRUCore, core_signature
from rtl.core.params import CoreParams
from rtl.toolchain import verilator_env, verilator_root, verilator_version
from rtl.verilog import LINT_WAIVERS

HARNESS = Path(__file__).parent / "native" / "core_main.cpp"
BUILDS = Path(os.environ.get("EGRU_TOOLS", "/var/cache/egru-codesign")) / "native-core"


def _key(verilog: str) -> str:
    """The build's name: the hash of the core's Verilog, the harness, Verilator's version, the flags."""
    digest = hashlib.sha256(verilog.encode())
    digest.update(HARNESS.read_bytes())
    digest.update(repr((verilator_version(verilator_root()), LINT_WAIVERS, FLAGS, CFLAGS)).encode())
    return digest.hexdigest()[:16]


FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert")
CFLAGS = "-O3 -march=native"  # the build is cached per machine


class NativeTop(wiring.Component):
    """EGRUCore's ports and behaviour, its reset registered: core.rst_t = rst_{t-1} (module docstring)."""

    def __init__(self, p: CoreParams):
        self.p = p
        super().__init__(core_signature(p))

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.core = domain = ClockDomain(local=True)
        rst = Signal(init=1, reset_less=True)
        m.d.sync += rst.eq(ResetSignal())
        m.d.comb += [domain.clk.eq(ClockSignal()), domain.rst.eq(rst)]
        core = EGRUCore(self.p)
        m.submodules.core = DomainRenamer("core")(core)
        wiring.connect(m, wiring.flipped(self), core)
        return m


def build(p: CoreParams, say: Callable[[str], None] = lambda _: None) -> Path:
    """The harness binary for this configuration: Verilator --cc --exe --build, once per Verilog."""
    from amaranth.back import verilog

    text = verilog.convert(NativeTop(p), name="egru_core", emit_src=False)
    folder = BUILDS / _key(text)
    binary = folder / "Vcore"
    if binary.is_file():
        return binary
    BUILDS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=BUILDS))
    say(f"building the core (n = {p.n}) in Verilator, once for this configuration (a minute or more)")
    try:
        (work / "src").mkdir()
        v_path = work / "src" / "egru_core.v"
        v_path.write_text(text)
        cmd = [
            "verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1), *FLAGS, *LINT_WAIVERS,
            "--top-module", "egru_core", "-CFLAGS", f"{CFLAGS} -DUNITS={len(UNITS)}",
            "--Mdir", str(work / "obj"), "-o", str(work / "Vcore"), str(v_path), str(HARNESS),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, env=verilator_env())
        if result.returncode != 0:
            raise UserError(f"verilator build of the core failed:\n{result.stderr.strip()[-3000:]}")
        shutil.rmtree(work / "obj")
        try:
            work.rename(folder)
        except OSError:  # another process published the same build first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return binary


@dataclass
class NativeSequence:
    pred: int  # the logit (fp.pre word)
    step_cycles: list[int]
    unit_cycles: dict[str, int]


@dataclass
class NativeRun:
    sequences: list[NativeSequence]
    readbacks: list[list[tuple[int, int]]]  # (master, momentum) per parameter, per R command
    cycles: int
    seconds: float  # the harness's own wall time of the simulation


class Stimulus:
    """Commands for the harness, payloads packed by the core's port layouts."""

    def __init__(self, p: CoreParams):
        self.p = p
        self.signature = core_signature(p)
        self.lines = [f"Q {p.update.parameters}"]
        self.sequences = 0

    def _hex(self, port: str, value) -> str:
        layout = self.signature.members[port].signature.members["payload"].shape
        return format(layout.const(value).as_value().value & ((1 << layout.size) - 1), "x")

    def load(self, loads: Iterable[dict]) -> None:
        self.lines += [f"L {self._hex('load', entry)}" for entry in loads]
        self.lines.append("I")

    def sequence(self, target: int, learn: bool, xs) -> None:
        self.lines.append(f"S {int(target)} {int(learn)}")
        self.lines += [f"X {self._hex('x', [int(v) for v in x])}" for x in xs]
        self.lines.append("W")
        self.sequences += 1

    def readback(self) -> None:
        self.lines.append("R")


def case_stimulus(case) -> Stimulus:
    """A sim.core_cases.CoreCase as a stimulus: load, then every sequence with a read-back after it."""
    stimulus = Stimulus(case.p)
    stimulus.load(case.loads)
    for target, learn, xs in case.sequences:
        stimulus.sequence(target, learn, xs)
        stimulus.readback()
    return stimulus


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


def run(p: CoreParams, stimulus: Stimulus, progress: Callable[[int], None] | None = None) -> NativeRun:
    """Run the stimulus through the harness; progress(k) after each sequence."""
    binary = build(p)
    fp = p.fp
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stimulus.txt"
        path.write_text("\n".join(stimulus.lines) + "\n")
        proc = subprocess.Popen([str(binary), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sequences: list[NativeSequence] = []
        readbacks: list[list[tuple[int, int]]] = []
        total = (0, 0.0)
        pending: dict = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            op, *fields = line.split()
            if op == "P":
                pending = {"pred": _signed(int(fields[0], 16), fp.pre.width)}
            elif op == "C":
                pending["step_cycles"] = [int(v) for v in fields]
            elif op == "U":
                pending["unit_cycles"] = dict(zip(UNITS, (int(v) for v in fields), strict=True))
                sequences.append(NativeSequence(**pending))
                if progress:
                    progress(len(sequences))
            elif op == "M":
                words = [int(v, 16) for v in fields]
                mw = fp.master.width
                readbacks.append([(_signed(w & ((1 << mw) - 1), mw), _signed(w >> mw, fp.grad.width)) for w in words])
            elif op == "T":
                total = (int(fields[0]), float(fields[1]))
        err = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0:
            raise UserError(f"the native core harness failed: {err.strip()}")
    return NativeRun(sequences, readbacks, *total)
