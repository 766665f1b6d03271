"""Build a block's Verilog per simulator and run its cocotb testbench on a job (cocotb_tools.runner).

Each (block, parameters, simulator) is built once into out/sim/build/<simulator>/<module>-<hash>
and reused; a run writes its job, results.xml and the testbench's result JSON into its own folder.
Waveforms (FST) are written when asked for, and when a run fails it is repeated with waveforms
into out/sim/waves/<run name>/ so the failure can be looked at.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from golden.atomic import write_text_if_changed
from golden.errors import UserError
from rtl.toolchain import verilator_env
from sim.jobs import SIMULATORS, write_job

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "sim"
TIMESCALE = ("1ns", "1ps")  # Amaranth's Verilog has no `timescale; cocotb's Clock needs one


class SimulationError(UserError):
    """The simulator could not build or run the testbench (not a mismatch: that is a failed result)."""


def _prepare(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise UserError(f"--sim: got {simulator!r}; expected one of {', '.join(SIMULATORS)}")
    if simulator == "verilator":
        os.environ.update({k: verilator_env()[k] for k in ("VERILATOR_ROOT", "PATH")})
    elif shutil.which("iverilog") is None:
        raise UserError("icarus: iverilog not found; run `bash scripts/verilator.sh` (installs Debian's iverilog)")


def build(block: str, params: dict[str, Any], simulator: str, waves: bool = False, coverage: bool = False):
    """Generate the Verilog and build it for the simulator (once); returns (runner, build_dir, module).
    coverage (Verilator only): line, toggle and user coverage, with sim.coverage's cover points bound
    into the block; each run then leaves coverage.dat in its folder."""
    from cocotb_tools.runner import get_runner

    from rtl.verilog import BLOCKS, LINT_WAIVERS, write_block

    _prepare(simulator)
    p = BLOCKS[block][1](**params)
    if coverage and simulator != "verilator":
        raise UserError(f"coverage: got --sim {simulator}; expected verilator (Icarus has no coverage)")
    flags = [block, params, simulator, waves] + (["coverage"] if coverage else [])
    key = hashlib.sha256(json.dumps(flags, sort_keys=True).encode()).hexdigest()[:10]
    module = BLOCKS[block][2]
    build_dir = OUT / "build" / simulator / f"{module}-{key}"
    v_path, _ = write_block(block, p, build_dir / "src")
    runner = get_runner(simulator)
    sources = [v_path]
    if simulator == "verilator":
        build_args = [*LINT_WAIVERS] + (["--trace-fst", "--trace-structs"] if waves else [])
        if coverage:
            from sim.coverage import cover_module

            cover = build_dir / "src" / f"{module}_cover.sv"
            write_text_if_changed(cover, cover_module(module, BLOCKS[block][0](p), v_path.read_text()))
            sources.append(cover)
            build_args += ["--coverage", "--assert"]
    else:
        # Verilog-2005 semantics, after cocotb's -g2012: there `reg r = 0;` initialises before any
        # process runs, so Yosys's time-0 kick of `always @*` blocks never fires and combinational
        # signals stay X until an input changes. cocotb's own dump module needs SystemVerilog, so
        # waveforms come from a Verilog-2005 one of ours (FST: vvp's -fst, which waves=True adds).
        build_args = ["-g2005"]
        if waves:
            dump = build_dir / "egru_wave_dump.v"
            dump.write_text(
                f'module egru_wave_dump;\ninitial begin\n  $dumpfile("{module}.fst");\n'
                f"  $dumpvars(0, {module});\nend\nendmodule\n"
            )
            sources.append(dump)
            build_args += ["-s", "egru_wave_dump"]
    try:
        runner.build(
            sources=sources,
            hdl_toplevel=module,
            build_dir=build_dir,
            build_args=build_args,
            timescale=TIMESCALE,
            waves=waves and simulator == "verilator",
            log_file=build_dir / "build.log",
        )
    except Exception as exc:  # the runner raises plain exceptions with the tool's output in the log
        raise SimulationError(f"{simulator} build of {module} failed ({exc}); see {build_dir / 'build.log'}") from None
    return runner, build_dir, module


def run_job(
    job: dict[str, Any],
    simulator: str,
    name: str,
    waves: bool = False,
    keep_waves_on_failure: bool = True,
    progress: Callable[[str], None] = lambda _: None,
    coverage: bool = False,
):
    """Run the job's testbench; returns the testbench's result dict with `passed` and `run_dir`.
    progress gets a line before the build and before the run (both can take a while)."""
    from cocotb_tools.runner import get_results

    block = job["block"]
    progress(f"{simulator}: building {block} (once per parameters; Verilator takes up to a minute)")
    runner, build_dir, module = build(block, job["params"], simulator, waves, coverage)
    run_dir = OUT / ("waves" if waves else "runs") / name
    steps = sum(len(c.get("steps", c.get("sequences", ()))) for c in job["cases"])
    unit = "steps" if "steps" in job["cases"][0] else "sequences"
    progress(f"{simulator}: running {len(job['cases'])} case(s), {steps} {unit}; log in {run_dir / 'sim.log'}")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    write_job(job, run_dir / "job.json")
    result_path = run_dir / "result.json"
    xml = run_dir / "results.xml"
    # The runner exits the process on failing tests when it sees pytest (PYTEST_CURRENT_TEST) or a
    # non-zero simulator status; here a failure is a result to report, so neither may exit.
    under_pytest = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(
            test_module=f"sim.tb_{block}",
            hdl_toplevel=module,
            build_dir=build_dir,
            test_dir=run_dir,
            results_xml=str(xml),
            extra_env={"EGRU_SIM_JOB": str(run_dir / "job.json"), "EGRU_SIM_RESULT": str(result_path)},
            waves=waves,
            timescale=TIMESCALE,
            log_file=run_dir / "sim.log",
        )
    except SystemExit:
        pass
    finally:
        if under_pytest is not None:
            os.environ["PYTEST_CURRENT_TEST"] = under_pytest
    if not xml.is_file():
        raise SimulationError(f"{simulator} run of {module} left no results.xml; see {run_dir / 'sim.log'}")
    tests, failed = get_results(xml)
    if not result_path.is_file():
        raise SimulationError(f"{simulator} run of {module} wrote no result; see {run_dir / 'sim.log'}")
    result = json.loads(result_path.read_text())
    result.update({"passed": tests > 0 and failed == 0, "run_dir": str(run_dir), "simulator": simulator})
    result["verilog"] = str(build_dir / "src" / f"{module}.v")
    if not result["passed"] and not waves and keep_waves_on_failure:
        progress("the run failed: repeating it with waveforms")
        rerun = run_job(job, simulator, name, waves=True, keep_waves_on_failure=False, progress=progress)
        result["waves_dir"] = rerun["run_dir"]
    return result
