"""The sequence guard of the stateful agents (streams/batches.py): a partition's messages are
processed in offset order from where its last seek put it, whatever the consumer delivers."""

from __future__ import annotations

from faust.types import TP

from streams.batches import ALREADY_READ, OUT_OF_SEQUENCE, PROCESS, SequenceGuard

CLUSTERS = TP("posts.clusters", 2)


class Seeks:
    """What streams/faust_fixes.py records: how many seeks, and where the last one put each partition."""

    def __init__(self, sought: dict) -> None:
        self.count, self.sought = 1, sought

    def again(self, sought: dict) -> None:
        self.count, self.sought = self.count + 1, sought

    def __call__(self) -> tuple[int, dict]:
        return self.count, self.sought


def verdicts(guard: SequenceGuard, offsets: list[int], tp: TP = CLUSTERS) -> list:
    return [guard.check(tp, offset) for offset in offsets]


def test_messages_from_the_sought_offset_on_are_processed_in_order():
    guard = SequenceGuard(Seeks({CLUSTERS: 29}))
    assert verdicts(guard, [29, 30, 31]) == [(PROCESS, None)] * 3


def test_a_stale_read_position_is_refused_and_the_partition_read_again_from_the_offset_due():
    # The join/leave fault: a member took over a partition committed at 29 and was handed
    # records from 650 on. None of them is processed; each asks for a seek back to 29.
    guard = SequenceGuard(Seeks({CLUSTERS: 29}))
    assert verdicts(guard, [650, 651, 652]) == [(OUT_OF_SEQUENCE, 29)] * 3
    # after the seek the partition delivers from 29; the records past it come again later, in order
    assert verdicts(guard, [29, 30]) == [(PROCESS, None)] * 2
    assert guard.refused == 3


def test_a_message_read_again_is_not_processed_twice():
    guard = SequenceGuard(Seeks({CLUSTERS: 0}))
    verdicts(guard, [0, 1, 2, 3])
    assert verdicts(guard, [2, 3, 4]) == [(ALREADY_READ, None), (ALREADY_READ, None), (PROCESS, None)]


def test_nothing_is_ever_skipped_however_often_the_partition_must_be_sought_back():
    # faust can drop the first records read again after a seek (below its read offset, moved
    # on by a stale record): the guard keeps asking for the offset due until it comes.
    guard = SequenceGuard(Seeks({CLUSTERS: 0}))
    assert verdicts(guard, [1, 2, 3, 3, 4]) == [(OUT_OF_SEQUENCE, 0)] * 5
    assert verdicts(guard, [0, 1]) == [(PROCESS, None)] * 2


def test_a_new_assignment_starts_over_from_its_own_seek():
    seeks = Seeks({CLUSTERS: 10})
    guard = SequenceGuard(seeks)
    verdicts(guard, [10, 11, 12])
    seeks.again({CLUSTERS: 5})  # reassigned after a rebalance, committed at 5: read again from 5
    assert verdicts(guard, [5, 6]) == [(PROCESS, None)] * 2


def test_partitions_are_independent_and_without_any_seek_messages_are_taken_as_they_come():
    other = TP("posts.clusters", 3)
    guard = SequenceGuard(Seeks({CLUSTERS: 0}))
    assert guard.check(other, 77) == (OUT_OF_SEQUENCE, None)  # not sought: its seek is under way
    assert guard.check(CLUSTERS, 5) == (OUT_OF_SEQUENCE, 0)
    assert SequenceGuard(lambda: (0, {})).check(other, 78) == (PROCESS, None)  # agent tests: no seeks at all


def test_a_partition_whose_seek_is_still_under_way_is_refused_without_a_seek_of_its_own():
    seeks = Seeks({CLUSTERS: 10})
    guard = SequenceGuard(seeks)
    taken_over = TP("complaints", 3)
    assert guard.check(taken_over, 200) == (OUT_OF_SEQUENCE, None)
    seeks.again({CLUSTERS: 10, taken_over: 39})
    assert verdicts(guard, [39, 40], taken_over) == [(PROCESS, None)] * 2


# Delivery: whole produce batches first, one record at a time only for a batch that failed.

class RecordTooLargeError(Exception):
    """Named like aiokafka's: a permanent refusal (streams.batches.PERMANENT_ERRORS)."""


def _deliver(outputs, *, failing_batches=(), too_large=()):
    import asyncio

    from streams.batches import Output, deliver

    sent_alone: list[bytes] = []
    retried: list[bytes] = []
    refused: list[bytes] = []

    async def send_batches(batch_outputs):
        loop = asyncio.get_running_loop()
        batches = [batch_outputs[:2], batch_outputs[2:]]
        futures = []
        for number, batch in enumerate(batches):
            future = loop.create_future()
            if number in failing_batches:
                error = RecordTooLargeError() if any(o.value in too_large for o in batch) else ConnectionError()
                future.set_exception(error)
            else:
                future.set_result(None)
            futures.append((batch, future))
        return futures

    async def send(topic, key, value, partition):
        sent_alone.append(value)
        future = asyncio.get_running_loop().create_future()
        if value in too_large:
            future.set_exception(RecordTooLargeError())
        else:
            future.set_result(None)
        return future

    async def scenario():
        await deliver([Output("triaged", None, value) for value in outputs], send, send_batches=send_batches,
                      on_permanent=lambda output, exc: refused.append(output.value),
                      on_retry=lambda output, exc, attempt: retried.append(output.value))

    asyncio.run(scenario())
    return sent_alone, retried, refused


def test_outputs_go_out_as_whole_batches_when_the_broker_takes_them():
    assert _deliver([b"a", b"b", b"c"]) == ([], [], [])


def test_a_failed_batch_is_sent_again_record_by_record_and_only_that_batch():
    sent_alone, retried, refused = _deliver([b"a", b"b", b"c", b"d"], failing_batches={1})
    assert sent_alone == [b"c", b"d"] and retried == [b"c", b"d"] and refused == []


def test_a_record_refused_for_good_is_told_apart_from_the_rest_of_its_batch():
    sent_alone, retried, refused = _deliver([b"a", b"b", b"big", b"d"], failing_batches={1}, too_large={b"big"})
    assert sent_alone == [b"big", b"d"], "the batch's records are sent again one by one"
    assert refused == [b"big"], "only the record the broker refuses for good goes to on_permanent"


def test_how_long_a_partition_has_waited_for_a_seek_is_known_until_the_next_seek(monkeypatch):
    seeks = Seeks({CLUSTERS: 29})
    guard = SequenceGuard(seeks)
    other = TP(CLUSTERS.topic, CLUSTERS.partition + 1)
    clock = [100.0]
    monkeypatch.setattr("streams.batches.time.monotonic", lambda: clock[0])
    assert guard.check(other, 5) == (OUT_OF_SEQUENCE, None) and guard.unsought_for(other) == 0.0
    clock[0] = 161.0
    assert guard.check(other, 6) == (OUT_OF_SEQUENCE, None) and guard.unsought_for(other) == 61.0
    assert guard.unsought_for(CLUSTERS) == 0.0
    seeks.again({CLUSTERS: 29, other: 7})
    assert guard.check(other, 7) == (PROCESS, None) and guard.unsought_for(other) == 0.0


def test_a_table_key_is_encoded_to_the_bytes_fausts_json_codec_makes_of_it():
    from faust.serializers import codecs

    from streams.batches import stored_key

    every_ascii = "".join(chr(c) for c in range(128))
    for key in ("cmp-0ef502e15a9d39ab458e", "twitter:1", 'quote " and \\ backslash', every_ascii):
        assert stored_key(key) == codecs.dumps("json", key)
    # Left to faust's codec, which escapes what orjson would not, and encodes other types.
    assert stored_key("kecamatan Wedi é") == "kecamatan Wedi é"
    assert stored_key(7) == 7


class Message:
    """What faust's current-event context needs: something to refer to weakly."""


class Table(dict):
    """A faust table as far as StagedTable uses it: writes and reads by stored key."""

    def __init__(self):
        super().__init__()
        self.data = self


def test_a_staged_table_reads_and_writes_the_store_under_the_encoded_keys():
    from streams.batches import StagedTable

    table = Table()
    staged = StagedTable(table)
    staged.begin(Message())
    staged["cmp-1"] = {"members": {"cmp-1": [1, ["twitter"]]}}
    staged.keep()
    staged.commit()
    assert table == {b'"cmp-1"': b'{"members":{"cmp-1":[1,["twitter"]]}}'}
    staged.begin(Message())
    assert staged.get("cmp-1") == {"members": {"cmp-1": [1, ["twitter"]]}}
    del staged["cmp-1"]
    staged.keep()
    staged.commit()
    assert table == {}


def test_a_staged_table_of_an_entry_type_stores_its_json_and_reads_the_type():
    from agents.domain.state import ClusterEntry, Member
    from streams.batches import StagedTable

    table = Table()
    staged = StagedTable(table, ClusterEntry)
    staged.begin(Message())
    staged["cmp-1"] = ClusterEntry(at=1.0, bucket="|Wedi", members={"cmp-1": Member(1, ["twitter"])})
    staged.keep()
    staged.commit()
    assert table == {b'"cmp-1"': b'{"at":1.0,"bucket":"|Wedi","members":{"cmp-1":[1,["twitter"]]}}'}
    assert StagedTable(table, ClusterEntry).get("cmp-1") == staged.get("cmp-1")
    [(_, entry)] = StagedTable(table, ClusterEntry).items()
    assert entry.members == {"cmp-1": Member(1, ["twitter"])}


def test_a_batch_committed_to_the_store_yields_the_changelog_records_faust_would_send():
    """`commit_to_store` writes what `commit` writes through the faust table, and returns the
    changelog records faust queues for those writes: same keys (faust's encoding, non-ASCII
    included), values, partitions and order; a deletion is a tombstone, a deletion of an absent
    key nothing."""
    import faust
    from streams.batches import StagedTable

    class Message:
        def __init__(self, partition: int) -> None:
            self.topic, self.partition = "tanggap.posts.clusters", partition

    class Event:
        def __init__(self, partition: int) -> None:
            self.message = Message(partition)

    def staged_writes(staged: StagedTable) -> None:
        staged.begin(Event(1))
        staged["cmp-1"] = {"members": {"cmp-1": [1, ["twitter"]]}}
        staged["kecamatan Wedi é"] = {"n": 1}
        staged.keep()
        staged.begin(Event(3))
        staged["cmp-2"] = {"n": 2}
        del staged["never-written"]
        staged.keep()

    def table(app_id: str):
        app = faust.App(app_id, broker="kafka://127.0.0.1:1", store="memory://", key_serializer="raw",
                        value_serializer="raw")
        return app.Table("clusters", default=None, partitions=4, value_type=bytes)

    through_faust, direct = table("through-faust"), table("direct")
    queued = []

    def send_soon(**message):
        queued.append((message["partition"], message["key"], message["value"]))
        return type("Sent", (), {"message": type("Message", (), {"partition": message["partition"]})})()

    through_faust.changelog_topic.send_soon = lambda **message: send_soon(
        **{**message, "key": through_faust.changelog_topic.prepare_key(message["key"], message["key_serializer"])[0]})
    staged = StagedTable(through_faust)
    staged_writes(staged)
    staged.commit()
    staged = StagedTable(direct)
    staged_writes(staged)
    records = staged.commit_to_store()

    assert [(r.partition, r.key, r.value) for r in records] == queued
    assert queued[0] == (1, b'"cmp-1"', b'{"members":{"cmp-1":[1,["twitter"]]}}')
    assert dict(direct.data) == dict(through_faust.data)
    assert all(record.table is direct for record in records)
    staged.begin(Event(3))
    del staged["cmp-2"]
    staged.keep()
    assert [(r.partition, r.key, r.value) for r in staged.commit_to_store()] == [(3, b'"cmp-2"', None)]
    assert b'"cmp-2"' not in direct.data

    # A table of an entry type stores, and logs, the entry's JSON.
    from agents.domain.state import ClusterEntry, Member

    typed = StagedTable(direct, ClusterEntry)
    typed.begin(Event(2))
    written = typed["cmp-3"] = ClusterEntry(at=1.0, bucket="|Wedi", members={"cmp-3": Member(1, ["twitter"])})
    typed.keep()
    [record] = typed.commit_to_store()
    assert record.value == b'{"at":1.0,"bucket":"|Wedi","members":{"cmp-3":[1,["twitter"]]}}'
    assert StagedTable(direct, ClusterEntry).get("cmp-3").members == {"cmp-3": Member(1, ["twitter"])}
    assert typed.get("cmp-3") is written, "a shared entry written is not decoded again"
    typed.begin(Event(2))
    del typed["cmp-3"]
    typed.keep()
    typed.commit_to_store()
    assert typed.get("cmp-3") is None


def test_a_shared_entry_is_decoded_again_only_when_its_stored_bytes_changed():
    """Entries the stage never changes (ClusterEntry.SHARED) are decoded once per stored value:
    a read finds the same bytes in the store and hands out the entry they decoded to; bytes
    written by anything else (a changelog replayed after a rebalance) are read as they are."""
    from agents.domain.state import ClusterEntry, ThreadEntry
    from streams.batches import StagedTable

    table = Table()
    table[b'"cmp-1"'] = b'{"at":1.0,"bucket":"|Wedi","members":{"cmp-1":[1,["twitter"]]}}'
    staged = StagedTable(table, ClusterEntry)
    staged.begin(Message())
    first = staged.get("cmp-1")
    assert staged.get("cmp-1") is first
    table[b'"cmp-1"'] = b'{"at":1.0,"bucket":"|Wedi","members":{"cmp-1":[2,["twitter"]]}}'
    replayed = staged.get("cmp-1")
    assert replayed.members["cmp-1"].mentions == 2 and first.members["cmp-1"].mentions == 1
    del table[b'"cmp-1"']
    assert staged.get("cmp-1") is None
    table[b'"twitter:1"'] = b'{"kind":"pengaduan"}'
    threads = StagedTable(table, ThreadEntry)
    assert threads.get("twitter:1") == threads.get("twitter:1")
    assert threads.get("twitter:1") is not threads.get("twitter:1"), "an entry type that may change: decoded each time"


def test_changelog_records_go_out_as_batches_and_persist_each_batch_s_last_offset():
    import asyncio
    from collections import namedtuple

    from streams.app import Pipeline
    from streams.batches import ChangelogRecord

    Metadata = namedtuple("Metadata", "topic partition topic_partition offset")

    class Batch:
        def __init__(self) -> None:
            self.records = []

        def append(self, key, value, timestamp, headers):
            if len(self.records) == 2:  # full
                return None
            self.records.append((key, value))
            return True

    class Client:
        def __init__(self) -> None:
            self.sent, self.futures, self.next_offset = [], [], 0

        def create_batch(self):
            return Batch()

        async def send_batch(self, batch, topic, *, partition):
            future = asyncio.get_running_loop().create_future()
            self.sent.append((topic, partition, batch.records))
            self.futures.append((future, Metadata(topic, partition, (topic, partition), self.next_offset)))
            self.next_offset += len(batch.records)
            return future

    class Table:
        def __init__(self, name: str) -> None:
            self.changelog_topic = type("Topic", (), {"get_topic_name": lambda _: f"{name}-changelog"})()
            self.persisted = []

        def _on_changelog_sent(self, sent) -> None:
            self.persisted.append((sent.result().topic_partition, sent.result().offset))

    client = Client()
    pipeline = Pipeline.__new__(Pipeline)
    pipeline.app = type("App", (), {"producer": type("Producer", (), {"_ensure_producer": lambda _: client})()})()
    threads, orphans = Table("threads"), Table("orphans")
    records = [ChangelogRecord(threads, 0, b"a", b"1"), ChangelogRecord(orphans, 0, b"o", None),
               ChangelogRecord(threads, 0, b"b", b"2"), ChangelogRecord(threads, 0, b"c", b"3")]

    async def run() -> None:
        await pipeline.produce_changelog(records)
        for future, metadata in client.futures:
            future.set_result(metadata)
        await asyncio.sleep(0)

    asyncio.run(run())
    assert client.sent == [("threads-changelog", 0, [(b"a", b"1"), (b"b", b"2")]),
                           ("threads-changelog", 0, [(b"c", b"3")]), ("orphans-changelog", 0, [(b"o", None)])]
    assert threads.persisted == [(("threads-changelog", 0), 1), (("threads-changelog", 0), 2)]
    assert orphans.persisted == [(("orphans-changelog", 0), 3)]


def test_a_failed_changelog_batch_crashes_the_worker_as_faust_s_own_send_does():
    import asyncio

    from streams.app import _changelog_sent

    crashed = []

    class App:
        async def crash(self, reason):
            crashed.append(reason)

    class Table:
        app = App()
        changelog_topic = type("Topic", (), {"get_topic_name": lambda self: "tanggap-clusters-changelog"})()

        def _on_changelog_sent(self, sent):  # pragma: no cover - must not be called
            raise AssertionError("a failed batch is not persisted")

    async def scenario():
        future = asyncio.get_running_loop().create_future()
        future.set_exception(ConnectionError("broker gone"))
        _changelog_sent(Table(), 3, future)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert [type(reason) for reason in crashed] == [ConnectionError]
