"""What every block's property harness shares: the property it proves and the broken variant it runs
(checked against the harness's PROPERTIES and FAULTS), and a module with no reset after the first
cycle."""

from __future__ import annotations

from typing import ClassVar

from amaranth import Elaboratable, Module, ResetSignal
from amaranth.hdl import Assume


class PropertyHarness(Elaboratable):
    """The harness for one property (PROPERTIES), optionally with one broken variant (FAULTS:
    variant -> the property it must break)."""

    PROPERTIES: ClassVar[tuple[str, ...]] = ()
    FAULTS: ClassVar[dict[str, str]] = {}

    def __init__(self, params, prop: str, fault: str | None = None):
        if prop not in self.PROPERTIES:
            raise ValueError(f"property {prop!r}; expected one of {', '.join(self.PROPERTIES)}")
        if fault is not None and fault not in self.FAULTS:
            raise ValueError(f"fault {fault!r}; expected one of {', '.join(self.FAULTS)}")
        self.p, self.prop, self.fault = params, prop, fault

    @classmethod
    def not_applicable(cls, params) -> dict[str, str]:
        """Broken variants that cannot exist at these parameters -> why (none by default)."""
        return {}

    @staticmethod
    def module() -> Module:
        """A module whose reset is held low after the first cycle (the solver may not reset)."""
        m = Module()
        m.d.comb += Assume(~ResetSignal())
        return m
