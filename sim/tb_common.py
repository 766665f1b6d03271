"""What every block testbench shares: the job (EGRU_SIM_JOB), the clock, reset, a cycle counter, a
scoreboard and the result file (EGRU_SIM_RESULT) the runner reads back."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from sim.jobs import read_job
from sim.scoreboard import Scoreboard
from sim.streams import CycleCounter

CLOCK_NS = 10


class TB:
    """Base of the block testbenches: clock, reset, counter, scoreboard, per-step records."""

    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        self.job: dict[str, Any] = read_job(os.environ["EGRU_SIM_JOB"])
        self.params = self.job["params"]
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        dut.rst.value = 0
        self.counter = CycleCounter(dut.clk)
        self.scoreboard = Scoreboard()
        self.records: list[dict[str, Any]] = []
        self.offered: dict[int, int] = {}  # step -> its input's handshake index, when offered early
        self.cycle_errors: list[str] = []
        self.started = time.perf_counter()

    async def reset(self, cycles: int = 2) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def reset_during_step(self, case: dict, cycles: int) -> None:
        """Reset the design `cycles` cycles into a step the caller has just offered, with whatever the
        drivers still hold dropped before and after, and forget the case's records: the case is then
        replayed from its first step."""
        await ClockCycles(self.dut.clk, cycles)
        self.flush()
        await self.reset()
        self.flush()
        self.records = [r for r in self.records if r["case"] != case["name"]]

    def corrupt(self, case_index: int, step: int, expected):
        """The job may ask for one expected value to be off by one LSB (to show the scoreboard fails)."""
        c = self.job.get("corrupt")
        if c and c["case"] == case_index and c["step"] == step:
            flat = expected.reshape(-1)
            flat[c["unit"]] += 1
        return expected

    def offer_next_early(self, case: dict, t: int) -> bool:
        """Whether to offer step t + 1's input before step t's result is taken: on about half the
        steps of a case with backpressure (and no reset), so the block sees an input waiting while it
        is busy (`sim coverage`'s stall conditions). Cycles are counted from the input's handshake."""
        if not case["backpressure"] or case["reset_step"] is not None or t + 1 >= len(case["steps"]):
            return False
        return random.Random(case["seed"] * 1_000_003 + t).random() < 0.5

    def offer_step(self, case: dict, t: int) -> int:
        """Offer step t's input (the block testbench's start(case, t), which returns the index its
        handshake will have in its stream's sent_cycles) unless it was offered early, and perhaps
        step t + 1's now (offer_next_early); returns step t's index. An early offer is always taken
        by the next step of the same case, so nothing is left over between cases."""
        sent = self.offered.pop(t) if t in self.offered else self.start(case, t)
        if self.offer_next_early(case, t):
            self.offered[t + 1] = self.start(case, t + 1)
        return sent

    def check_cycles(self, case: dict, step: int, measured: int, predicted: int, stalls: int = 0) -> None:
        """With no backpressure, measured cycles must equal the cycle function; with it, waiting only
        adds cycles (and the stalls a block reports are part of them)."""
        if case["backpressure"]:
            ok = predicted <= measured - stalls
        else:
            ok = measured == predicted and stalls == 0
        if not ok:
            self.cycle_errors.append(
                f"{case['name']} step {step}: measured {measured} cycles ({stalls} stalls), cycle function {predicted}"
            )

    def finish(self) -> None:
        """Write the result file and fail the cocotb test on any mismatch."""
        result = {
            "block": self.job["block"],
            "params": self.params,
            "records": self.records,
            "compared": self.scoreboard.compared,
            "mismatches": self.scoreboard.mismatches,
            "first_mismatch": None if self.scoreboard.first is None else str(self.scoreboard.first),
            "cycle_errors": self.cycle_errors,
            "simulated_cycles": self.counter.cycle,
            "wall_seconds": time.perf_counter() - self.started,
        }
        Path(os.environ["EGRU_SIM_RESULT"]).write_text(json.dumps(result, indent=1) + "\n")
        assert self.scoreboard.passed, str(self.scoreboard.first)
        assert not self.cycle_errors, self.cycle_errors[0]
