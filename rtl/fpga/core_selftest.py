"""The online-learning core's on-board self-test: the core trains on spiral data held in ROM and
reports how it did, to be compared with the integer reference (golden.fixed_step.IntegerLearner).

ROMs hold the core's load words, one header per sequence {target, learn}, every x_t, and the
expected prediction of every sequence. The test loads the network, writes its forward words
(`init`), then runs K training sequences (an update after each batch) and M test sequences (predict
only), with a 16-bit LFSR holding the inputs idle on about one cycle in four. Every prediction is
compared with the reference's (`errors` counts those that differ), the test predictions' signs
with their labels (`correct`); at the end the master words are read back and their CRC-32 formed
(IEEE, each word sign-extended to 32 bits, 4 bytes little-endian: rtl.core.transactions.master_crc), which
must equal the reference's. The report line:

    EGRU core self-test PASS correct 03E8/03E8 crc 0555AADB errors 00000
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth import Const, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from golden.errors import UserError
from rtl.core.egru_core import EGRUCore, core_signature
from rtl.core.params import CoreParams
from rtl.core.transactions import master_crc
from rtl.fpga.selftest import COUNT_BITS, ERROR_BITS, Lfsr16, RomCursor, RomSource, payload_bits

CRC_POLY = 0xEDB88320  # CRC-32 (IEEE 802.3), reflected


@dataclass
class CoreVectors:
    p: CoreParams
    loads: list[int]  # the core's `load` payloads
    headers: list[int]  # `seq` payloads, one per sequence
    xs: list[int]  # `x` payloads, steps per sequence
    logits: list[int]  # expected prediction of every sequence (pre words, as unsigned bits)
    tests: list[int]  # 1 for a test (predict-only) sequence
    targets: list[int]
    correct: int  # test predictions whose sign matches the label, in the reference
    crc: int  # CRC-32 of the reference's master words after the last update
    parameters: int

    @property
    def test_count(self) -> int:
        return sum(self.tests)


def core_vectors(n: int, iterations: int, batch: int, tests: int, seed: int = 0, lanes: int = 4) -> CoreVectors:
    """The spiral (golden train --numerics fixed's data and initial words at this n, omega 0.5) for
    `iterations` updates of `batch` sequences, then `tests` test sequences, with the reference's
    predictions, correct count and CRC."""
    import tempfile
    from pathlib import Path

    from golden.fixed_train import FixedTrainer
    from golden.spiral import STEPS
    from golden.train import TrainConfig, batch_indices
    from rtl.blocks.transactions import master_vector
    from rtl.core.transactions import core_load

    config = TrainConfig(n=n, omega=0.5, iterations=iterations, batch=batch, seed=seed, numerics="fixed")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = FixedTrainer(config, Path(tmp))
    learner, layout = trainer.learner, trainer.layout
    p = CoreParams.for_training(config, layout[-1].stop, STEPS, lanes, trainer.rule, trainer.cfg)
    masks = {k: v.numpy().astype(bool) for k, v in trainer.params.masks.items()}
    sig = core_signature(p)
    shape = {name: sig.members[name].signature.members["payload"].shape for name in ("load", "seq", "x")}
    loads = [payload_bits(shape["load"], entry) for entry in core_load(p, learner.master, masks)]
    x, y = trainer.x, trainer.y
    if tests > len(y["test"]):
        raise UserError(f"--tests: got {tests}; the spiral's test split has {len(y['test'])}")
    headers, xs, logits, kinds, targets = [], [], [], [], []
    pre = (1 << p.fp.pre.width) - 1
    for i in range(iterations):
        idx = batch_indices(i, len(y["train"]), batch, seed)
        seq = learner.train_sequence(x["train"][:, idx], y["train"][idx], trainer.rule, None)
        for k, b in enumerate(idx):
            headers.append(payload_bits(shape["seq"], {"target": int(y["train"][b]), "learn": 1}))
            xs += [payload_bits(shape["x"], [int(v) for v in x["train"][t, b]]) for t in range(p.steps)]
            logits.append(int(seq.logit[k]) & pre)
            kinds.append(0)
            targets.append(int(y["train"][b]))
    test_logits = learner.forward(x["test"][:, :tests]).logit
    for b in range(tests):
        headers.append(payload_bits(shape["seq"], {"target": int(y["test"][b]), "learn": 0}))
        xs += [payload_bits(shape["x"], [int(v) for v in x["test"][t, b]]) for t in range(p.steps)]
        logits.append(int(test_logits[b]) & pre)
        kinds.append(1)
        targets.append(int(y["test"][b]))
    correct = int(np.sum((test_logits > 0) == (y["test"][:tests] == 1)))
    crc = master_crc(master_vector(learner.master, layout))
    return CoreVectors(p, loads, headers, xs, logits, kinds, targets, correct, crc, p.update.parameters)


def crc32_word(m: Module, crc: Value, word: Value) -> Signal:
    """The CRC-32 register after the 32 bits of `word`, least significant first (4 bytes,
    little-endian, each byte LSB first: the reflected CRC's bit order), one signal per bit so each
    step reads the last once."""
    for i in range(32):
        step = Signal(32, name=f"crc_step{i}")
        m.d.comb += step.eq(Mux(crc[0] ^ word[i], (crc >> 1) ^ CRC_POLY, crc >> 1))
        crc = step
    return crc


class CoreSelfTest(wiring.Component):
    """The core between its ROMs (module docstring); done, passed, errors, checked (predictions
    compared), correct (test predictions right) and crc (of the master words read back)."""

    def __init__(self, vectors: CoreVectors, seed: int = 0xACE1):
        self.vectors = vectors
        self.seed = seed
        super().__init__(
            {
                "done": Out(1),
                "passed": Out(1),
                "errors": Out(ERROR_BITS + 4),
                "checked": Out(COUNT_BITS),
                "correct": Out(16),
                "crc": Out(32),
            }
        )

    @property
    def checked_words(self) -> int:
        return len(self.vectors.logits)

    def report_text(self) -> list:
        """The report's characters (rtl.fpga.boards.SelfTestReport): ints are ASCII, the rest
        expressions of the result."""
        from rtl.fpga.boards import hex_digits

        v = self.vectors
        text = [ord(c) for c in "EGRU core self-test "]
        text += [Mux(self.passed, ord(p), ord(f)) for p, f in zip("PASS", "FAIL")]
        text += [ord(c) for c in " correct "] + hex_digits(self.correct, 4) + [ord("/")]
        text += hex_digits(Const(v.test_count, 16), 4)
        text += [ord(c) for c in " crc "] + hex_digits(self.crc, 8)
        text += [ord(c) for c in " errors "] + hex_digits(self.errors, 5)
        return text + [ord("\r"), ord("\n")]

    def elaborate(self, platform):
        m = Module()
        v = self.vectors
        core = m.submodules.core = EGRUCore(v.p)
        m.submodules.lfsr = lfsr = Lfsr16(self.seed)
        sources = {}
        for name, words in (("load", v.loads), ("seq", v.headers), ("x", v.xs)):
            port = getattr(core, name)
            src = m.submodules[f"src_{name}"] = RomSource(len(Value.cast(port.payload)), words)
            sources[name] = src
            stall = 0 if name == "load" else lfsr.stall
            m.d.comb += [
                port.valid.eq(src.stream.valid & ~stall),
                port.payload.eq(src.stream.payload),
                src.stream.ready.eq(port.ready & ~stall),
            ]
        expected = m.submodules.expected = RomCursor(len(Value.cast(core.pred.payload)), v.logits)
        kinds = m.submodules.kinds = RomCursor(2, [t | (k << 1) for t, k in zip(v.targets, v.tests, strict=True)])
        taken = core.pred.valid & core.pred.ready
        m.d.comb += [core.pred.ready.eq(~lfsr.stall), expected.advance.eq(taken), kinds.advance.eq(taken)]

        errors, correct, checked = Signal.like(self.errors), Signal.like(self.correct), Signal.like(self.checked)
        crc = Signal(32, init=0xFFFFFFFF)
        q = Signal(range(v.parameters + 1))
        logit = core.pred.payload.logit
        with m.If(taken):
            m.d.sync += checked.eq(checked + 1)
            with m.If(core.pred.payload.as_value() != expected.word):
                m.d.sync += errors.eq(errors + 1)
            with m.If(kinds.word[1] & ((logit > 0) == kinds.word[0])):
                m.d.sync += correct.eq(correct + 1)
        master = Signal(32)
        m.d.comb += master.eq(core.rb_data.master.as_signed())  # sign-extended to 32 bits
        next_crc = crc32_word(m, crc, master)
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += sources["load"].enable.eq(1)
                with m.If(sources["load"].finished):
                    m.next = "INIT"
            with m.State("INIT"):
                m.d.comb += core.init.valid.eq(1)
                with m.If(core.init.ready):
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [sources["seq"].enable.eq(1), sources["x"].enable.eq(1)]
                with m.If(expected.finished & ~core.busy):
                    m.d.comb += core.rb_addr.eq(0)
                    m.d.sync += q.eq(0)
                    m.next = "READBACK"
            with m.State("READBACK"):  # word q arrives; word q + 1 is addressed
                m.d.comb += core.rb_addr.eq(q + 1)
                m.d.sync += [crc.eq(next_crc), q.eq(q + 1)]
                with m.If(q == v.parameters - 1):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
        final = crc ^ 0xFFFFFFFF
        mismatches = errors + (final != v.crc) + (correct != v.correct)
        m.d.comb += [
            self.errors.eq(mismatches),
            self.checked.eq(checked),
            self.correct.eq(correct),
            self.crc.eq(final),
            self.passed.eq(self.done & (mismatches == 0)),
        ]
        return m
