"""primitives.shard_manager: shard counts by profile, and mask vs modulo selection."""
import numpy as np
import pytest

from kernlab.primitives.shard_manager import MASK, MODULO, ShardManager, WorkloadProfile, next_power_of_two, shard_of


@pytest.mark.parametrize("profile, cpus, expected", [
    ("high", 2, 8), ("high", 16, 64), ("high", 3, 16), ("medium", 3, 8), ("medium", 12, 32),
    ("low", 1, 8), ("low", 100, 128), ("high", 200, 512), (WorkloadProfile.HIGH_CONTENTION, 64, 256),
])
def test_shard_counts_follow_the_profiles(profile, cpus, expected):
    n = ShardManager.shards(profile, cpus=cpus)
    assert n == expected and n & (n - 1) == 0 and ShardManager.MIN_SHARDS <= n <= ShardManager.MAX_SHARDS


def test_shard_manager_rejects_bad_input():
    with pytest.raises(ValueError, match="profile must be one of high, medium, low"):
        ShardManager.shards("extreme", cpus=4)
    with pytest.raises(ValueError, match="cpus must be a positive integer"):
        ShardManager.shards("high", cpus=0)
    assert ShardManager.shards() == ShardManager.shards("high")   # this machine's CPUs
    assert [next_power_of_two(n) for n in (1, 2, 3, 5, 8, 9)] == [1, 2, 4, 8, 8, 16]


def test_mask_and_modulo_pick_the_same_shard_for_powers_of_two():
    for shards in (1, 2, 8, 64, 1024):
        picks = [shard_of(k, shards, MASK) for k in range(2000)]
        assert picks == [shard_of(k, shards, MODULO) for k in range(2000)]
        assert 0 <= min(picks) and max(picks) < shards
    counts = np.bincount([shard_of(k, 8, MASK) for k in range(8000)], minlength=8)
    assert counts.min() > 0.8 * counts.mean()        # consecutive keys spread over the shards
