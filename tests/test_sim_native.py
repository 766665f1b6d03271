"""The core in Verilator through the native C++ harness (sim.native_core): the same cases as the
Amaranth simulation (tests/core_cases.py), every prediction, every master and momentum word after
every sequence and the cycles of every step equal to the integer trainer and the cycle function;
a damaged stimulus is refused by the harness with a clear error."""

from __future__ import annotations

import pytest

from golden.errors import UserError
from sim.native_core import Stimulus, run
from tests.core_cases import core_case


@pytest.mark.parametrize("subtractive,kind,batch,update_every", [(False, "signum", 2, 0), (True, "sgdm", 1, 2)])
def test_native_core_trains_bit_exactly_as_the_integer_trainer(subtractive, kind, batch, update_every):
    case = core_case(subtractive, kind, batch, update_every)
    stimulus = Stimulus(case.p)
    stimulus.load(case.loads)
    for target, learn, xs in case.sequences:
        stimulus.sequence(target, learn, xs)
        stimulus.readback()
    result = run(case.p, stimulus)
    assert len(result.sequences) == len(case.sequences) == len(result.readbacks)
    for i, (seq, state) in enumerate(zip(result.sequences, result.readbacks, strict=True)):
        assert seq.pred == case.logits[i], i
        if case.states[i] is not None:
            assert state == case.states[i], i
        assert seq.step_cycles == case.cycles[i], i
    assert result.cycles >= sum(sum(c) for c in case.cycles)


def test_native_harness_refuses_an_unknown_command():
    case = core_case(False, "signum", 2, 0, batches=1)
    stimulus = Stimulus(case.p)
    stimulus.lines.append("Z 0")
    with pytest.raises(UserError, match="unknown command 'Z'"):
        run(case.p, stimulus)
