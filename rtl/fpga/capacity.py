"""The largest n of each block that fits a part, at a stated omega, lanes and word widths.

Search on Yosys's counts (the block alone, as rtl.fpga.synth reports it): n doubles from `start` until a
resource exceeds the part (LUTs or logic cells, flip-flops, block RAM, SPRAM, DSPs), then bisects to
the largest n whose counts fit. That n is then placed and routed (the block in rtl.fpga.synth's harness);
if nextpnr cannot fit it, n steps down (by n / 16, at least 1; four tries) until it can. Every
probe is kept in probes.csv, every placement in placements.json, in the output folder, so an
interrupted search resumes without synthesising or placing a point twice. The searches of the
(block, part) pairs are independent and run side by side on the dask executor (golden.executor);
they share the two files, each write merging the file's current entries under a lock.

omega matters to the influence update only (its columns P = rtl.blocks.params.egru_columns(n, n_in, omega));
the accumulation's weight memory is sized for any mask and the router has no weights.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Callable

from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.fixedpoint import DEFAULT, FixedPointConfig
from rtl.blocks.params import egru_columns, make_params
from rtl.fpga.parts import PARTS
from rtl.fpga.synth import block_resources, synthesize

PROBE_FIELDS = ("block", "device", "n", "lanes", "omega", "columns", "luts", "ffs", "bram", "spram", "dsp", "fits")
LIMITED_BY = ("luts", "ffs", "bram", "spram", "dsp")


def block_for(block: str, n: int, lanes: int, omega: float, fp: FixedPointConfig):
    """The block's parameters at n (lanes capped at n; P from omega for the influence update)."""
    lanes = min(lanes, n) if block != "accumulate" else lanes
    columns = egru_columns(n, omega=omega) if block == "influence" else None
    return make_params(block, n, lanes, columns, fp=fp)


def over(resources: dict[str, int], device: str) -> list[str]:
    """The resources that exceed the part."""
    cap = PARTS[device]
    return [r for r in LIMITED_BY if resources[r] > cap[r]]


def cache_name(stem: str, suffix: str, fp: FixedPointConfig) -> str:
    """probes.csv / placements.json for the default word widths, with a hash of the widths otherwise."""
    if fp == DEFAULT:
        return f"{stem}.{suffix}"
    digest = hashlib.sha256(json.dumps(fp.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{stem}-{digest}.{suffix}"


class Probes:
    """Yosys counts per (block, device, n, lanes, omega), cached in a CSV (resumable)."""

    TEXT = ("block", "device", "fits")

    def __init__(self, path: Path, fp: FixedPointConfig):
        self.path, self.fp = path, fp
        self.rows: dict[tuple, dict[str, Any]] = self._read()

    def _read(self) -> dict[tuple, dict[str, Any]]:
        rows = {}
        if self.path.is_file():
            with open(self.path, newline="") as f:
                for text in csv.DictReader(f):
                    row = {k: text[k] if k in self.TEXT else int(text[k]) for k in PROBE_FIELDS if k != "omega"}
                    row["omega"] = float(text["omega"])
                    rows[self.key(row)] = row
        return rows

    @staticmethod
    def key(row: dict[str, Any]) -> tuple:
        return tuple(row[k] for k in ("block", "device", "n", "lanes", "omega"))

    def get(self, block: str, device: str, n: int, lanes: int, omega: float) -> dict[str, Any]:
        row = {"block": block, "device": device, "n": n, "lanes": lanes, "omega": omega}
        key = self.key(row)
        if key not in self.rows:
            params = block_for(block, n, lanes, omega, self.fp)
            row["columns"] = getattr(params, "columns", 0)
            try:
                res, _ = block_resources(block, params, device, progress=lambda _: None)
            except UserError as error:  # e.g. YoWASP Yosys exhausting its call stack on a very large block
                row.update({r: 0 for r in LIMITED_BY}, fits=f"no: Yosys failed ({error})")
            else:
                row.update({r: res[r] for r in LIMITED_BY})
                row["fits"] = "yes" if not over(row, device) else "no: " + ", ".join(over(row, device))
            self.rows[key] = row
            self._write()
        return self.rows[key]

    def _write(self) -> None:
        """The file's current rows (other searches' probes) with ours, written atomically under the lock."""
        with file_lock(self.path):
            self.rows = {**self._read(), **self.rows}
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=PROBE_FIELDS)
            writer.writeheader()
            writer.writerows(sorted(self.rows.values(), key=lambda r: (r["block"], r["device"], r["omega"], r["n"])))
            atomic_write_text(self.path, buf.getvalue())


class Placements:
    """nextpnr's verdicts (rtl.fpga.synth summaries) by probe, cached in a JSON file (resumable)."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else {}

    def add(self, key: str, summary: dict[str, Any]) -> None:
        with file_lock(self.path):
            current = json.loads(self.path.read_text()) if self.path.is_file() else {}
            self.done = {**current, **self.done, key: summary}
            atomic_write_text(self.path, json.dumps(self.done, indent=1) + "\n")


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive lock on `path`'s sidecar PATH.lock, for read-merge-write by concurrent searches."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def largest_n(
    block: str,
    device: str,
    lanes: int,
    omega: float,
    out: Path,
    fp: FixedPointConfig = DEFAULT,
    start: int = 4,
    limit: int = 512,
    place: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The largest n in [start, limit] whose block fits the device (see the module docstring);
    place=False trusts Yosys's counts (nextpnr on the largest blocks takes tens of minutes)."""
    if device not in PARTS:
        raise UserError(f"--devices: got {device!r}; expected some of {', '.join(PARTS)}")
    if not 0 <= omega < 1:
        raise UserError(f"--omega: got {omega}; expected a fraction in [0, 1)")
    probes = Probes(out / cache_name("probes", "csv", fp), fp)

    def fits(n: int) -> bool:
        row = probes.get(block, device, n, lanes, omega)
        progress(f"{block} on {device}: n = {n}: {row['fits']}")
        return row["fits"] == "yes"

    if not fits(start):
        return {"block": block, "device": device, "lanes": lanes, "omega": omega, "largest_n": None}
    good, bad = start, None
    while bad is None and good < limit:
        n = min(2 * good, limit)
        if fits(n):
            good = n
        else:
            bad = n
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if fits(mid) else (good, mid)
    n, unplaced = good, []
    placements = Placements(out / cache_name("placements", "json", fp))
    for _ in range(4 if place else 0):  # nextpnr has the last word: packing and routing can still fail
        key = f"{block} {device} n={n} lanes={lanes} omega={omega}"
        if key not in placements.done:
            progress(f"{block} on {device}: placing and routing n = {n}")
            try:
                result = synthesize(block, block_for(block, n, lanes, omega, fp), device, progress=lambda _: None)
            except UserError as error:  # the harness around the block can exceed what the tools take
                result = {"placed_with_harness": {"fits": False, "error": str(error)}}
            placements.add(key, result)
        placed = placements.done[key]
        if placed["placed_with_harness"]["fits"]:
            break
        unplaced.append({"n": n, "error": placed["placed_with_harness"].get("error", "nextpnr could not place it")})
        n -= max(1, n // 16)
    else:
        placed = None
    row = probes.get(block, device, n, lanes, omega)
    found = n if (placed or not place) else None
    return {
        "block": block,
        "device": device,
        "lanes": lanes,
        "omega": omega,
        "largest_n": found,
        "placed": placed is not None,  # False: by Yosys's counts alone (place=False)
        "at_limit": bad is None,  # still fits at `limit`: the part holds more
        "columns": row["columns"],
        "resources": {r: row[r] for r in LIMITED_BY},
        "capacity": {r: PARTS[device][r] for r in LIMITED_BY},
        "fmax_mhz": placed["fmax_mhz"] if placed else None,
        "memories": placed["memories"] if placed else [],
        "first_not_fitting": None if bad is None else probes.get(block, device, bad, lanes, omega),
        "not_placed": unplaced,  # n that fit by Yosys's counts but not in nextpnr (or its harness)
    }


def merge_results(path: Path, fresh: list[dict[str, Any]], fp: FixedPointConfig) -> list[dict[str, Any]]:
    """The results already in `path` (from runs over other blocks or parts, same word widths) with
    the fresh ones replacing any of the same block, part, lanes and omega; ordered by part, block."""

    def key(r):
        return (r["device"], r["block"], r["lanes"], r["omega"])

    kept: dict[tuple, dict[str, Any]] = {}
    if path.is_file():
        earlier = json.loads(path.read_text())
        if "fixed_point" in earlier and FixedPointConfig.from_dict(earlier["fixed_point"]) == fp:
            kept = {key(r): r for r in earlier["results"]}
    kept.update({key(r): r for r in fresh})
    order = {b: i for i, b in enumerate(("router", "accumulate", "influence"))}
    return sorted(kept.values(), key=lambda r: (r["device"], order.get(r["block"], 9), r["lanes"], r["omega"]))


def _short(error: str) -> str:
    """A tool failure in a few words for the table (the JSON keeps it whole)."""
    if "yosys failed" in error:
        return "Yosys failed on the harness"
    return error.removeprefix("ERROR: ")[:60]


def markdown(results: list[dict[str, Any]], fp: FixedPointConfig) -> str:
    """A table of the largest n per block and part, what limits it, and the widths used."""
    lines = [
        "| block | part | lanes | ω | largest n | P | LUTs | FFs | BRAM | SPRAM | DSP | Fmax | next n fails on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["largest_n"] is None:
            lines.append(f"| {r['block']} | {r['device']} | {r['lanes']} | {r['omega']:g} | none | | | | | | | | |")
            continue
        res, cap = r["resources"], r["capacity"]
        cells = [f"{res[k]}/{cap[k]}" for k in LIMITED_BY]
        n = f"≥ {r['largest_n']}" if r["at_limit"] else str(r["largest_n"])
        if not r.get("placed", True):
            n += " (Yosys counts; not placed)"
        fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.0f} MHz"
        failed = r["first_not_fitting"]
        limit = "-" if failed is None else f"n = {failed['n']}: " + failed["fits"].removeprefix("no: ").split(" (")[0]
        if r.get("not_placed"):
            limit = "; ".join(
                [f"n = {u['n']}: not placed ({_short(u['error'])})" for u in r["not_placed"]]
                + ([limit] if failed else [])
            )
        cols = r["columns"] or "-"
        lines.append(
            f"| {r['block']} | {r['device']} | {r['lanes']} | {r['omega']:g} | {n} | {cols} | "
            + " | ".join(cells)
            + f" | {fmax} | {limit} |"
        )
    widths = f"state {fp.state}, weights {fp.weight}, coefficients {fp.coef}, influence {fp.influence}"
    return "\n".join(lines) + f"\n\nWord widths: {widths}.\n"
