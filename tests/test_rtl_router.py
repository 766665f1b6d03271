"""EventRouter in Amaranth's simulator: events per lane equal golden.fixedpoint.route_events on golden
traces and random vectors (with random backpressure), cycles equal rtl.blocks.cycles.router_cycles, the
event counter counts every event."""

from __future__ import annotations

import numpy as np
import pytest

from golden import fixedpoint as fx
from rtl.blocks.cycles import router_cycles
from rtl.blocks.params import RouterParams
from rtl.blocks.simulation import simulate_router
from tests.rtl_traces import SPIRAL, trace_for


def check(p: RouterParams, ys: list[np.ndarray], stall: float = 0.0):
    steps, count = simulate_router(p, ys, seed=len(ys), stall=stall)
    events, cycles = [s.output for s in steps], [s.cycles for s in steps]
    for t, y in enumerate(ys):
        assert events[t] == fx.route_events(y, p.lanes), f"step {t}"
        if not stall:
            assert cycles[t] == router_cycles(p, y != 0), f"step {t}"
    assert count == sum(int(np.count_nonzero(y)) for y in ys)
    return cycles


def trace_outputs(name: str, sample: int = 0) -> list[np.ndarray]:
    trace = trace_for(name)
    key = "y" if trace.config.cell == "egru" else "a"
    return [fx.to_fixed("y", v, fx.DEFAULT.state) for v in trace.arrays[key][:, sample]]


@pytest.mark.parametrize("name", ["egru_w0.0_e1.0", "egru_w0.8_e0.1", "trnn_w0.0_e1.0", SPIRAL])
@pytest.mark.parametrize("lanes", [1, 3])
def test_golden_traces(name, lanes):
    ys = trace_outputs(name)
    check(RouterParams(n=len(ys[0]), lanes=lanes), ys)


@pytest.mark.parametrize("n,lanes", [(16, 1), (16, 4), (13, 5), (8, 8)])
def test_random_vectors_with_backpressure(n, lanes):
    rng = np.random.default_rng(n * lanes)
    ys = [rng.integers(-2000, 2000, n) * (rng.random(n) < density) for density in (0.0, 0.3, 1.0, 0.6)]
    check(RouterParams(n=n, lanes=lanes), ys, stall=0.4)


def test_one_event_per_cycle_per_lane():
    """A dense vector: each lane sends n / L events in n / L + 1 cycles after taking y."""
    p = RouterParams(n=16, lanes=4)
    y = np.arange(1, 17)
    assert check(p, [y]) == [1 + 16 // 4 + 1]
