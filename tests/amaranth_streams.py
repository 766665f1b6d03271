"""Stream drivers for Amaranth async testbenches: a source that offers payloads with random idle
cycles and a sink that takes them with random backpressure (lib.stream valid/ready)."""

from __future__ import annotations

import random


async def send(ctx, s, payload, rng: random.Random, idle: float = 0.0) -> None:
    """Offer one payload on stream s (after random idle cycles) and wait for its handshake."""
    while idle and rng.random() < idle:
        await ctx.tick()
    ctx.set(s.payload, payload)
    ctx.set(s.valid, 1)
    await ctx.tick().until(s.ready)
    ctx.set(s.valid, 0)


async def receive(ctx, s, rng: random.Random, stall: float = 0.0):
    """Take one payload from stream s, holding ready low on random cycles; returns (payload, cycles)
    where cycles counts the clock edges until and including the handshake."""
    cycles = 0
    while True:
        ctx.set(s.ready, not (stall and rng.random() < stall))
        _, _, valid, ready, payload = await ctx.tick().sample(s.valid, s.ready, s.payload)
        cycles += 1
        if valid and ready:
            ctx.set(s.ready, 0)
            return payload, cycles
