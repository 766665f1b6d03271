"""Train the spiral inside the simulated core and check it against the integer trainer.

The run is `golden train --numerics fixed` moved onto the chip: the same initial master words, the
same data and batches (golden.fixed_train.FixedTrainer's), the same rule. The core (Verilator with
the native harness, or Amaranth's simulator for short runs) trains on every batch's sequences one
after another and updates after each batch; its master and momentum words are read back after
every update, its predictions kept for every sequence, and the test split is predicted on the core
at the end. Beside it, in this process, golden.fixed_step.IntegerLearner trains on the same batches;
both must agree bit for bit everywhere, and every step's measured cycles must equal
rtl.core.cycles.core_step_cycles from the step's pattern."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.spiral import STEPS
from golden.train import TrainConfig, batch_indices
from rtl.blocks.cycles import influence_lane_macs
from rtl.core.cycles import mask_words, sequence_cycles
from rtl.core.egru_core import UNITS
from rtl.core.params import CoreParams
from rtl.core.transactions import core_load, master_crc


def crc(words: list[tuple[int, int]]) -> str:
    """CRC-32 of the master words of (master, momentum) pairs (rtl.core.transactions.master_crc)."""
    return f"{master_crc([m for m, _ in words]):08x}"


def train_on_core(config: TrainConfig, sim: str, lanes: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """Run the training (module docstring); returns the report (also written to out/report.json)."""
    from tqdm import tqdm

    from golden.fixed_train import FixedTrainer
    from rtl.blocks.transactions import master_vector

    if sim not in ("verilator", "amaranth"):
        raise UserError(f"--sim: got {sim!r}; expected verilator or amaranth")
    if config.numerics != "fixed":
        raise UserError("--numerics: the core trains in fixed point")
    trainer = FixedTrainer(config, out)
    learner, layout, cfg = trainer.learner, trainer.layout, trainer.cfg
    masks = {k: v.numpy().astype(bool) for k, v in trainer.params.masks.items()}
    p = CoreParams.for_training(config, layout[-1].stop, STEPS, lanes, trainer.rule, cfg)
    loads = core_load(p, learner.master, masks)
    x, y = trainer.x, trainer.y
    batches = [batch_indices(i, len(y["train"]), config.batch, config.seed) for i in range(config.iterations)]
    sequences = [(int(y["train"][b]), True, x["train"][:, b]) for idx in batches for b in idx]
    tests = [(int(y["test"][b]), False, x["test"][:, b]) for b in range(len(y["test"]))]
    total = len(sequences) + len(tests)

    bar = tqdm(total=total, desc=f"core n={p.n} ({sim})", unit="seq", disable=not progress)
    t0 = time.perf_counter()
    if sim == "verilator":
        from sim.native_core import Stimulus, build, run

        build(p, say=lambda line: tqdm.write(line) if progress else None)
        stimulus = Stimulus(p)
        stimulus.load(loads)
        for k, (target, learn, xs) in enumerate(sequences):
            stimulus.sequence(target, learn, xs)
            if (k + 1) % config.batch == 0:
                stimulus.readback()
        for target, learn, xs in tests:
            stimulus.sequence(target, learn, xs)
        t_run = time.perf_counter()
        native = run(p, stimulus, progress=lambda k: bar.update(1))
        wall = time.perf_counter() - t_run
        preds = [s.pred for s in native.sequences]
        step_cycles = [s.step_cycles for s in native.sequences]
        unit_cycles = [s.unit_cycles for s in native.sequences]
        readbacks = native.readbacks
        sim_cycles, sim_seconds = native.cycles, native.seconds
    else:
        from rtl.core.simulation import simulate_core

        t_run = time.perf_counter()
        results = simulate_core(p, loads, sequences + tests)
        wall = time.perf_counter() - t_run
        bar.update(total)
        preds = [r.logit for r in results]
        step_cycles = [[int(c) for c in r.step_cycles] for r in results]
        unit_cycles = [r.unit_cycles for r in results]
        readbacks = [results[k].master for k in range(config.batch - 1, len(sequences), config.batch)]
        sim_cycles, sim_seconds = sum(sum(c) for c in step_cycles), wall
    bar.close()

    # the integer reference on the same batches, and the cycle function on every step
    words = mask_words(p, masks)
    ref_preds: list[int] = []
    ref_states: list[list[tuple[int, int]]] = []
    predicted: list[list[int]] = []  # cycle function of every step, per sequence
    sources: list[int] = []  # active sources of every training step
    for idx in tqdm(batches, desc="integer reference", unit="batch", disable=not progress):
        cells: list = []

        def observe(what: str, info: dict) -> None:
            if what == "step":
                cells.append(info["cell"])

        seq = learner.train_sequence(x["train"][:, idx], y["train"][idx], trainer.rule, config.update_every, observe)
        ref_preds += [int(v) for v in seq.logit]
        ref_states.append(
            list(zip(master_vector(learner.master, layout), master_vector(learner.momentum, layout), strict=True))
        )
        for b in range(len(idx)):
            cycles, active = sequence_cycles(p, [(c.y[b], c.d[b]) for c in cells], words, True, b)
            predicted.append(cycles)
            sources += active
    test_logits = learner.forward(x["test"]).logit
    ref_preds += [int(v) for v in test_logits]
    forward = learner.words()
    for b in range(len(tests)):
        prev, states = None, []
        for t in range(STEPS):
            prev = learner.cell(forward, prev, x["test"][t, b : b + 1])
            states.append((prev.y[0], prev.d[0]))
        predicted.append(sequence_cycles(p, states, words, False, 0)[0])

    train_steps = [c for seq in step_cycles[: len(sequences)] for c in seq]
    influence_busy = sum(u["influence"] for u in unit_cycles[: len(sequences)])
    lane_macs = sum(influence_lane_macs(p.influence, p.n, active) for active in sources)
    core_acc = float(np.mean((np.array(preds[len(sequences) :]) > 0) == (y["test"] == 1)))
    ref_acc = float(np.mean((test_logits > 0) == (y["test"] == 1)))
    busy_total = {name: sum(u[name] for u in unit_cycles[: len(sequences)]) for name in UNITS}
    report = {
        "config": asdict(config),
        "core": {k: v for k, v in vars(p).items() if k != "fp"},
        "simulator": sim,
        "sequences_trained": len(sequences),
        "updates": len(ref_states),
        "test_sequences": len(tests),
        "bit_exact": {
            "predictions_compared": len(ref_preds),
            "predictions_differing": int(sum(a != b for a, b in zip(preds, ref_preds, strict=True))),
            "updates_compared": len(readbacks),
            "updates_differing": int(sum(a != b for a, b in zip(readbacks, ref_states, strict=True))),
        },
        "test_accuracy": {"core": core_acc, "integer_reference": ref_acc},
        "final_weights_crc32": {"core": crc(readbacks[-1]), "integer_reference": crc(ref_states[-1])},
        "cycles": {
            "simulated": sim_cycles,
            "steps_differing_from_the_cycle_function": int(
                sum(a != b for a, b in zip(step_cycles, predicted, strict=True))
            ),
            "per_training_step_mean": float(np.mean(train_steps)),
            "per_training_step_min": int(np.min(train_steps)),
            "per_training_step_max": int(np.max(train_steps)),
            "per_training_sequence_mean": float(np.mean([sum(s) for s in step_cycles[: len(sequences)]])),
            "unit_share": {name: busy_total[name] / max(1, sum(train_steps)) for name in UNITS},
            "influence_lane_utilisation": lane_macs / max(1, p.lanes * influence_busy),
        },
        "wall_seconds": {"simulation": sim_seconds, "run": wall, "total": time.perf_counter() - t0},
        "simulated_cycles_per_second": sim_cycles / max(sim_seconds, 1e-9),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "report.md", describe(report) + "\n")
    return report


def describe(report: dict[str, Any]) -> str:
    """The report as markdown."""
    c, b, cy = report["core"], report["bit_exact"], report["cycles"]
    acc = report["test_accuracy"]
    crc_ = report["final_weights_crc32"]
    lines = [
        f"# The spiral trained inside the core ({report['simulator']}), n = {c['n']}",
        "",
        f"- {report['sequences_trained']} training sequences in {report['updates']} updates "
        f"(batch {c['batch']}, {c['kind']} at 2^-{c['lr_shift']}), then {report['test_sequences']} test sequences",
        f"- bit-exact against the integer trainer: {b['predictions_differing']} of {b['predictions_compared']} "
        f"predictions and {b['updates_differing']} of {b['updates_compared']} updates' master and momentum "
        "words differ",
        f"- test accuracy: core {acc['core']:.4f}, integer reference {acc['integer_reference']:.4f}",
        f"- final master words CRC-32: core {crc_['core']}, integer reference {crc_['integer_reference']}",
        f"- cycles: {cy['simulated']:,} simulated; a training step {cy['per_training_step_mean']:,.0f} on average "
        f"({cy['per_training_step_min']:,} to {cy['per_training_step_max']:,}); "
        f"{cy['steps_differing_from_the_cycle_function']} sequences' steps differ from the cycle function",
        f"- influence MAC-lane utilisation during training: {cy['influence_lane_utilisation']:.3f}",
        "- share of training cycles each unit is busy: "
        + ", ".join(f"{k} {v:.3f}" for k, v in cy["unit_share"].items()),
        f"- wall time: {report['wall_seconds']['simulation']:.1f} s simulating "
        f"({report['simulated_cycles_per_second']:,.0f} cycles/s), {report['wall_seconds']['total']:.1f} s in all",
    ]
    return "\n".join(lines)
