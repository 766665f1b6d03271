"""The cost model's expected influence-update cycles (costmodel.rtl_cycles) against the cycle
function summed over a golden trace's real steps, and compacted column counts against golden."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.cli import main
from costmodel.errors import UserError
from costmodel.rtl_cycles import compacted_columns, expected_influence_cycles
from golden.hw_stimulus import influence_steps
from rtl.blocks.cycles import influence_cycles
from rtl.blocks.params import InfluenceParams
from tests.rtl_traces import SPIRAL, trace_for


@pytest.mark.parametrize("name", ["egru_w0.0_e1.0", "egru_w0.8_e0.1", SPIRAL])
def test_expected_cycles_match_the_trace(name):
    trace = trace_for(name)
    cfg = trace.config
    P = trace.params().p_kept
    assert compacted_columns("egru", cfg.n, cfg.n_in, cfg.omega) == P
    for sample in range(trace.meta["B"]):
        steps = influence_steps(trace, sample)
        p = InfluenceParams(n=cfg.n, columns=P, lanes=4)
        measured = np.mean([influence_cycles(p, int(s.rows.sum()), len(s.sources)) for s in steps])
        sources_later = np.mean([len(s.sources) for s in steps[1:]])
        beta = 1 - sources_later / cfg.n  # the trace's own density of active sources after step 0
        expected = expected_influence_cycles("egru", cfg.n, cfg.n_in, len(steps), beta, cfg.omega, 4)
        assert expected == pytest.approx(measured, rel=1e-12)


def test_threshold_rnn_is_refused():
    with pytest.raises(UserError, match="threshold RNN"):
        expected_influence_cycles("trnn", 8, 2, 10, 0.5, 0.0, 4)


def test_eval_workload_prints_rtl_cycles(capsys):
    assert main(["eval", "--workload", "egru-smnist-590", "--method", "rtrl-both", "--lanes", "8"]) == 0
    out = capsys.readouterr().out
    want = expected_influence_cycles("egru", 590, 1, 784, 0.274, 0.0, 8)
    line = next(row for row in out.splitlines() if "RTL influence update" in row)
    assert f"{want:.4g} cycles/step" in line
