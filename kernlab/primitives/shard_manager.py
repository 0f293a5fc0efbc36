"""Shard counts from the CPU count and a workload profile; shard selection by mask.

Algorithm
    A sharded map (DashMap-style) splits one table into ``S`` shards, each with its
    own reader-writer lock; a key goes to the shard named by some of its hash's *high*
    bits (here: the top 31 bits of a Fibonacci product, then ``& (S - 1)``: product
    bits 33 and up; DashMap shifts its hash right for the same reason). More shards
    mean fewer threads per lock (less contention) but more locks, more memory and
    worse locality. ``ShardManager.shards(profile)`` picks ``S`` the way the
    catalogue's kernel does: a multiple of the usable CPUs by profile (high contention
    4x, medium 2x, low 1x), rounded *up* to a power of two, clamped to
    [``MIN_SHARDS``, ``MAX_SHARDS``] = [8, 512].

    Why a power of two: the shard index is then ``hash & (S - 1)``, one AND, instead
    of ``hash % S``, an integer division (20-90 cycles on common x86 cores when ``S``
    is only known at run time). ``shard_of`` takes both forms, so the difference can
    be measured rather than assumed. The hash is Fibonacci hashing (multiply by
    2^64/phi, keep the high bits: ``workload.fib_hash``), so consecutive keys spread
    over shards; the low bits of such a product are as regular as the key's own.

Invariants
    ``shards(...)`` is a power of two in [MIN_SHARDS, MAX_SHARDS]. For a power-of-two
    S, ``hash & (S - 1) == hash % S``: both forms pick the same shard.

Memory ordering
    None: pure functions of their arguments.

Progress guarantee
    Wait-free.

References
    The catalogue's ``shard_manager.rs`` (profiles, power-of-two rounding, 8..512);
    DashMap's ``default_shard_amount`` (4x CPUs, next power of two); Knuth, TAOCP
    vol. 3, 6.4 (multiplicative hashing).
"""
from __future__ import annotations

from enum import Enum

import numpy as np

from ..jit import inline_kernel
from ..machine import usable_cores
from ..workload import fib_hash

MIN_SHARDS = 8
MAX_SHARDS = 512
MASK, MODULO = 0, 1            # shard index modes


class WorkloadProfile(Enum):
    """How hard the table will be fought over; the value is the shards-per-CPU factor."""
    HIGH_CONTENTION = 4      # process tables, memory blocks, signal delivery
    MEDIUM_CONTENTION = 2    # child tracking, sandboxes, pipes
    LOW_CONTENTION = 1       # spawn counts, metrics, mmap


PROFILES = {"high": WorkloadProfile.HIGH_CONTENTION, "medium": WorkloadProfile.MEDIUM_CONTENTION,
            "low": WorkloadProfile.LOW_CONTENTION}


def next_power_of_two(n: int) -> int:
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return 1 << (int(n) - 1).bit_length()


class ShardManager:
    """Shard counts by workload profile (all static: it holds no state)."""
    MIN_SHARDS = MIN_SHARDS
    MAX_SHARDS = MAX_SHARDS

    @staticmethod
    def shards(profile: WorkloadProfile | str = WorkloadProfile.HIGH_CONTENTION, cpus: int | None = None) -> int:
        """``factor(profile) x cpus``, rounded up to a power of two, clamped to [8, 512]."""
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
            profile = PROFILES[profile]
        if not isinstance(profile, WorkloadProfile):
            raise ValueError(f"profile must be a WorkloadProfile or one of {', '.join(PROFILES)}, got {profile!r}")
        cpus = usable_cores() if cpus is None else cpus
        if isinstance(cpus, bool) or not isinstance(cpus, (int, np.integer)) or cpus < 1:
            raise ValueError(f"cpus must be a positive integer, got {cpus!r}")
        return min(max(next_power_of_two(int(cpus) * profile.value), MIN_SHARDS), MAX_SHARDS)


@inline_kernel   # on every op of a sharded table, as is shard_of
def key_hash(key):
    """Fibonacci hash of a non-negative key, as a non-negative int64."""
    return fib_hash(key, 31)


@inline_kernel
def shard_of(key, shards, mode):
    """The shard of ``key``: ``hash & (shards - 1)`` (MASK) or ``hash % shards`` (MODULO)."""
    h = key_hash(key)
    if mode == MASK:
        return h & (shards - 1)
    return np.int64(np.uint64(h) % np.uint64(shards))
