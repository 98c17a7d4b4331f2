"""The workers' partitioner gives every key the partition aiokafka's default partitioner gives it:
a thread's posts and state, and a complaint's events, stay in the partitions they were in."""

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from streams.kafka import KeyPartitioner, murmur2, partition_for


def test_murmur2_is_aiokafkas_for_every_length():
    rng = random.Random(3)
    for length in range(300):
        for _ in range(10):
            key = rng.randbytes(length)
            assert murmur2(key) == aiokafka_murmur2(key), key


def test_key_partitioner_places_keys_as_the_default_partitioner_does():
    rng = random.Random(5)
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    for _ in range(2000):
        key = rng.choice([rng.randbytes(rng.randrange(1, 60)), f"cmp-{rng.getrandbits(64):x}".encode()])
        partitions = list(range(rng.randrange(1, 13)))
        assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)
        assert partition_for(key, len(partitions)) == theirs(key, partitions, partitions)
        assert ours(key, partitions, partitions) == ours(key, partitions, partitions)  # remembered: the same


def test_a_record_without_key_goes_to_an_available_partition():
    ours = KeyPartitioner()
    assert {ours(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert {ours(None, [0, 1], []) for _ in range(50)} <= {0, 1}
