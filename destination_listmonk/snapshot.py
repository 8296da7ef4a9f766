"""A compact picture of every subscriber listmonk holds at the start of a sync, read once from its CSV export,
so records that are plainly new or plainly unchanged need no lookup call.

Per subscriber it keeps a 64-bit hash of the email and a 64-bit fingerprint of the profile fields the sync
compares, in a table at most 60% full (about 32 MB for 1,000,000 subscribers). It only ever answers "certainly new",
"certainly unchanged" or "look it up": a hash collision, a record the picture cannot judge, or a subscriber this
sync already wrote falls back to the lookup, so the planner still sees listmonk's real state before anything is
written.
"""

from __future__ import annotations

import re
import threading
import time
from array import array
from enum import Enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Optional

import orjson

from destination_listmonk import paths
from destination_listmonk.mapping import Desired
from listmonk_client.client import ListmonkClient

# listmonk v6.2 exports about 111,000 rows/s and answers about 10,000 looked-up emails/s: reading the export of
# N subscribers costs about what looking up N/11 records does.
EXPORT_COST_IN_LOOKUPS = 11
# The picture of this many subscribers stays near 100 MB; beyond it the sync keeps looking records up.
AUTO_MAX_SUBSCRIBERS = 2_000_000
# A full-refresh write starts the export after this many records (or a batch, if fewer) rather than a whole batch:
# a re-sync waits for the export, and a batch of 10,000 takes the sync about 0.2 s to read, a tenth of a no-change
# re-sync of 100,000. A sync smaller than this never pays for it.
WHOLE_DATASET_START_RECORDS = 1_000


_Row = Sequence[Optional[str]]


class MalformedExport(ValueError):
    """The export cannot be trusted to name every subscriber."""


class ExportFailed(Exception):
    """The export could not be read into a snapshot; says why, as it would have been said where it happened."""


# The export's columns a snapshot is made of, in this order.
EXPORT_FIELDS = ("email", "name", "attributes", "status")


class Verdict(Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    LOOK_UP = "look_up"


_MASK64 = (1 << 64) - 1


def _hash64(value: str | bytes) -> int:
    # Python's own string hash: 64-bit keyed SipHash, and cached on the string. Seeded per process, which is
    # all it needs to be: the table never leaves the process.
    return hash(value) & _MASK64


_dumps, _SORT_KEYS = orjson.dumps, orjson.OPT_SORT_KEYS
_SORT_KEYS_53 = _SORT_KEYS | orjson.OPT_STRICT_INTEGER  # refuses integers beyond 53 bits
# How orjson writes an integral float below 1e16 (it writes every one as `<digits>.0`), followed by what can
# follow a value in [name, attribs, status].
_integral_float = re.compile(rb"[0-9]\.0[,\]}]").search


def fingerprint(name: Optional[str], attribs: Mapping[str, Any], status: Optional[str]) -> Optional[int]:
    """A hash of the compared fields in a canonical JSON form, numbers as listmonk holds them (paths.canonical_numbers);
    None where there is none (e.g. a non-text key). orjson writes NaN as null, but NaN reaches no sync: the Airbyte
    protocol (read with orjson) cannot carry it."""
    # _hash64 inlined, and orjson's names bound once: this runs for every record and every export row. Most texts
    # are canonical already, and cheap checks tell: only an integer beyond 53 bits (refused by this first dump) or
    # an integral float within 2**53 (`1.0`) changes; other floats are canonical as they are. `46 in` (ord('.'))
    # is a memchr, and `find` a tenth of what `b".0" in` costs here; the pattern only runs on texts holding ".0".
    try:
        text: Optional[bytes] = _dumps([name, attribs, status], option=_SORT_KEYS_53)
    except (orjson.JSONEncodeError, TypeError):
        text = None
    if text is None or (46 in text and text.find(b".0") >= 0 and _integral_float(text) is not None):
        try:
            text = _dumps([name, paths.canonical_numbers(attribs), status], option=_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            return None
    return hash(text) & _MASK64


class WrittenEmails:
    """The emails this sync has written, whose snapshot entry is stale, by their 64-bit hash: exact but for two
    emails whose hashes collide, which only costs a lookup. Exact because a record wrongly taken for written costs a
    lookup call of its own in most lookup rounds, however rare. An open-addressing set in one flat array of 8 bytes a
    slot, at most 60% full, that grows with the writes (2 MB after 100,000, 16 MB after 1,000,000), so that a re-sync
    that writes little holds little."""

    _MAX_LOAD = 0.6
    _MIN_SLOTS = 1 << 10

    def __init__(self) -> None:
        self._size = 0
        self._zero = False  # whether an email hashing to 0, the mark of an empty slot, was written
        self._allocate(self._MIN_SLOTS)

    def _allocate(self, slots: int) -> None:
        self._keys = empty_slots(slots)
        self._mask = slots - 1
        self._limit = int(slots * self._MAX_LOAD)

    def add(self, email: str) -> None:
        self._add(_hash64(email))

    def _add(self, email_hash: int) -> None:
        if email_hash == 0:
            self._zero = True
            return
        keys = self._keys
        slot = _slot(keys, self._mask, email_hash)
        if keys[slot] == 0:
            keys[slot] = email_hash
            self._size += 1
            if self._size > self._limit:
                self._rehash(2 * len(keys))

    def _rehash(self, slots: int) -> None:
        held = self._keys
        self._allocate(slots)
        self._size = 0
        for email_hash in filter(None, held):
            self._add(email_hash)

    def holds(self, email_hash: int) -> bool:
        if email_hash == 0:
            return self._zero
        if not self._size:  # the common case of a sync that writes nothing
            return False
        keys = self._keys
        return keys[_slot(keys, self._mask, email_hash)] == email_hash


def _slot(keys: array[int], mask: int, key: int) -> int:
    """Where nonzero `key` is in an open-addressing array of keys (0 marks an empty slot), or the empty slot where it
    would go. The keys are hashes already, so their low bits pick the slot to start from."""
    slot = key & mask
    while True:
        held = keys[slot]
        if held == key or held == 0:
            return slot
        slot = (slot + 1) & mask


def empty_slots(slots: int) -> array[int]:
    """`slots` zeros (empty slots) of 64 bits, made in C without a transient copy."""
    return array("Q", [0]) * slots


class _Table:
    """64-bit keys to 64-bit values: an open-addressing hash table in two flat arrays, kept at most 60% full (about
    32 MB at 1,000,000 subscribers), with none of the per-object overhead a dict of 1,000,000 entries would cost.
    The keys are hashes already, so a key's low bits pick its slot, and a lookup reads one or two slots: a quarter
    of what a binary search over sorted arrays cost, once per record of a re-sync."""

    AMBIGUOUS = 0  # two emails collided, or the row was unreadable: look such records up
    _MAX_LOAD = 0.6
    _MIN_SLOTS = 1 << 10

    def __init__(self, expected: int = 0) -> None:
        """`expected`: about how many keys will be added, so that the table is made big enough at once."""
        slots = self._MIN_SLOTS
        while slots * self._MAX_LOAD < expected:
            slots *= 2
        self._allocate(slots)
        self._size = 0
        self._zero: Optional[int] = None  # key 0's value: 0 marks an empty slot

    def _allocate(self, slots: int) -> None:
        self._adopt(empty_slots(slots), empty_slots(slots))

    def _adopt(self, keys: array[int], values: array[int]) -> None:
        self._keys, self._values = keys, values
        self._mask = len(keys) - 1
        self._limit = int(len(keys) * self._MAX_LOAD)

    @classmethod
    def from_arrays(cls, keys: array[int], values: array[int], size: int, zero: Optional[int]) -> "_Table":
        """A table as `arrays` gave it."""
        table = cls.__new__(cls)
        table._adopt(keys, values)
        table._size, table._zero = size, zero
        return table

    def arrays(self) -> tuple[array[int], array[int], int, Optional[int]]:
        """Its slots' keys and values, how many keys they hold, and key 0's value."""
        return self._keys, self._values, self._size, self._zero

    def __len__(self) -> int:
        return self._size + (self._zero is not None)

    def add(self, key: int, value: int) -> None:
        """A key added twice keeps one entry, AMBIGUOUS."""
        if key == 0:
            self._zero = value if self._zero is None else self.AMBIGUOUS
            return
        keys = self._keys
        slot = _slot(keys, self._mask, key)
        if keys[slot] == key:
            self._values[slot] = self.AMBIGUOUS
            return
        keys[slot] = key
        self._values[slot] = value
        self._size += 1
        if self._size > self._limit:
            self._grow()

    def _grow(self) -> None:
        keys, values = self._keys, self._values
        self._allocate(2 * len(keys))
        self._size = 0
        for key, value in zip(keys, values):
            if key:
                self.add(key, value)

    def get(self, key: int) -> Optional[int]:
        if key == 0:
            return self._zero
        keys = self._keys
        slot = _slot(keys, self._mask, key)
        return self._values[slot] if keys[slot] else None


class LoadCancelled(Exception):
    """The sync ended before a background export finished."""


_YIELD_EVERY = 256  # rows of a background parse between GIL hand-overs: about a millisecond of parsing
_FIRST_PUBLISH = 8192  # rows of the export in the first partial snapshot; each next one holds twice as many


class Snapshot:
    def __init__(self, table: _Table, compare_name: bool, compare_status: bool,
                 written: Optional[WrittenEmails] = None, complete: bool = True) -> None:
        """From a table of email hash to profile fingerprint (or AMBIGUOUS): see `export_table`. A snapshot of
        the export's first rows only (not `complete`) never says a record is new: its subscriber may come later."""
        self._table = table
        self._compare_name = compare_name
        self._compare_status = compare_status
        self.written = written if written is not None else WrittenEmails()
        self._absent = Verdict.NEW if complete else Verdict.LOOK_UP

    @classmethod
    def from_export(cls, rows: Iterable[_Row], compare_name: bool, compare_status: bool,
                    written: Optional[WrittenEmails] = None,
                    cancelled: Optional[threading.Event] = None,
                    progress: Optional[Callable[[int], None]] = None, expected: int = 0) -> "Snapshot":
        """From rows of listmonk's CSV export: see `export_table`."""
        return cls(export_table(rows, compare_name, compare_status, cancelled, progress, expected),
                   compare_name, compare_status, written)

    def __len__(self) -> int:
        return len(self._table)

    def judge(self, desired: Desired) -> Verdict:
        email = desired.email
        if desired.deleted or email is None:
            return Verdict.LOOK_UP
        email_hash = _hash64(email)
        if self.written.holds(email_hash):
            return Verdict.LOOK_UP
        held = self._table.get(email_hash)
        if held is None:
            return self._absent
        if held == _Table.AMBIGUOUS:
            return Verdict.LOOK_UP
        if (self._compare_name and desired.name is None) or (self._compare_status and desired.status is None):
            return Verdict.LOOK_UP
        wanted = fingerprint(
            desired.name if self._compare_name else None,
            paths.drop_nulls(desired.attribs or {}),
            desired.status if self._compare_status else None,
        )
        return Verdict.UNCHANGED if wanted is not None and held == wanted else Verdict.LOOK_UP


def export_table(rows: Iterable[_Row], compare_name: bool, compare_status: bool,
                 cancelled: Optional[threading.Event] = None,
                 progress: Optional[Callable[[int], None]] = None, expected: int = 0,
                 publish: Optional[Callable[[_Table], None]] = None) -> _Table:
    """The table of email hash to profile fingerprint (or AMBIGUOUS) of rows of listmonk's CSV export as (email,
    name, attributes as JSON text, status), about `expected` of them.

    With `cancelled`, as a background parse: every few hundred rows it stops (LoadCancelled) if that is set, and
    hands the GIL over, so the sync's lookup threads, back from the network, get it at once instead of after
    Python's 5 ms switch interval each time. It tells `progress` every few hundred rows how many it has read, and
    hands `publish` the table of the rows read so far at 8,192 rows, then each time they have doubled. One loop
    does it all: a generator per step cost about a tenth of a row's parse."""
    table = _Table(expected)
    add = table.add
    next_publish = _FIRST_PUBLISH
    for count, (email, name, attributes, status) in enumerate(rows):
        if count % _YIELD_EVERY == 0:
            if progress is not None:
                progress(count)
            if publish is not None and count >= next_publish:
                publish(table)
                next_publish *= 2
            if cancelled is not None:
                if cancelled.is_set():
                    raise LoadCancelled()
                time.sleep(0)
        if email is None:
            raise MalformedExport("the export has a row without an email")
        try:
            attribs = orjson.loads(attributes) if attributes is not None else None
        except orjson.JSONDecodeError:
            attribs = None
        profile = fingerprint(
            name if compare_name else None, attribs, status if compare_status else None
        ) if isinstance(attribs, dict) else None
        add(_hash64(email.strip().lower()), _Table.AMBIGUOUS if profile is None else profile)  # always looked up
    return table


class BackgroundExport:
    """The export, read while the sync goes on (by a thread that `_thread` ends with, setting `_snapshot` or
    `_error`). Its set of written emails exists from the start, so every email the sync writes while the export streams
    is looked up afterwards, whether listmonk exported that subscriber before or after the write."""

    _thread: threading.Thread
    gives_partials = False  # whether `partial` ever holds anything

    def __init__(self) -> None:
        self.written = WrittenEmails()
        self.started = time.monotonic()
        self._snapshot: Optional[Snapshot] = None
        self._error: Optional[BaseException] = None
        # The export's first rows, while the rest streams (not complete: see Snapshot), where the reader gives
        # them, and how many such snapshots have come so far.
        self.partial: Optional[Snapshot] = None
        self.partials = 0

    @property
    def rows_read(self) -> int:
        """Rows of the export read so far, counted every few hundred."""
        raise NotImplementedError

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> Snapshot:
        """Waits for the export; raises what stopped it."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._snapshot is not None
        return self._snapshot

    def wait_past(self, partials: int) -> None:
        """Waits until more than `partials` snapshots of the export's first rows have come, or none will come
        any more (at once, where there are no such snapshots)."""

    def cancel(self) -> None:
        """Stops reading the export: the sync ended before it needed it."""
        raise NotImplementedError


class SnapshotLoader(BackgroundExport):
    """Reads the export in a background thread while the sync goes on looking records up."""

    def __init__(self, client: ListmonkClient, compare_name: bool, compare_status: bool, expected: int = 0) -> None:
        """`expected`: about how many subscribers listmonk holds, where known."""
        super().__init__()
        self._cancelled = threading.Event()
        self._rows_read = 0

        def note(rows: int) -> None:
            self._rows_read = rows

        def load() -> None:
            try:
                rows = client.export_subscribers(EXPORT_FIELDS)
                try:
                    self._snapshot = Snapshot.from_export(rows, compare_name, compare_status, self.written,
                                                          self._cancelled, note, expected)
                finally:
                    rows.close()  # at once: the error kept for the sync would keep the stream open until collected
            except BaseException as error:  # handed to whoever asks for the result, on the sync's thread
                self._error = error

        self._thread = threading.Thread(target=load, name="listmonk-export", daemon=True)
        self._thread.start()

    @property
    def rows_read(self) -> int:
        return self._rows_read

    def cancel(self) -> None:
        self._cancelled.set()
        self._thread.join()


class SnapshotPolicy:
    """When to read the export: `always` at once, `never`, or `auto`, from the moment the records seen so far (at
    least a full batch, so small syncs never pay) would cost in lookups half of what the export of everyone
    listmonk holds costs. The export then streams while the sync goes on, and is used as soon as it is in, or
    waited for once the records seen would cost the whole export: a sync that ends in between has paid at most
    twice what its lookups cost.

    A stream read in full refresh brings everything its source holds on every sync. For such a write `auto`
    starts the export after `start_records` (WHOLE_DATASET_START_RECORDS, or a batch if fewer), and waits for it
    from the moment the lookups show a re-sync: most of the records looked up already in listmonk, `probe_records`
    of them at least (one lookup call of the first batch's records is enough). The rest of the sync is then likely
    as large as what listmonk holds. Whatever the mode's reason to wait, at the end of the input it waits only if
    the records left to plan would cost more in lookups than the rest of the export."""

    def __init__(self, mode: str, min_records: int, whole_dataset: bool = False, probe_records: int = 0) -> None:
        self._mode = mode
        self._min_records = min_records
        self._whole_dataset = whole_dataset
        self._probe_records = min(probe_records, min_records) if probe_records > 0 else min_records
        self._held: Optional[int] = None
        # The records after which a full-refresh write's export may start (0: none such).
        self.start_records = min(min_records, WHOLE_DATASET_START_RECORDS) if whole_dataset and mode == "auto" else 0

    @property
    def probes(self) -> bool:
        """Whether a first batch is worth a probe: one lookup call that tells a re-sync from a first load."""
        return self._whole_dataset and self._mode == "auto"

    @property
    def known_count(self) -> int:
        """How many subscribers listmonk held when the policy asked; 0 if it never did."""
        return self._held or 0

    def give_up(self) -> None:
        self._mode = "never"

    def start_due(self, records_seen: int, count_held: Callable[[], int]) -> bool:
        if self._whole_dataset and self._mode == "auto" and records_seen >= self.start_records:
            return self._count(count_held) <= AUTO_MAX_SUBSCRIBERS
        return self._worth(records_seen, 2 * EXPORT_COST_IN_LOOKUPS, count_held)

    def wait_due(self, records_seen: int, count_held: Callable[[], int], found: int = 0, looked_up: int = 0) -> bool:
        """`found` of the `looked_up` records so far were already in listmonk."""
        if self.probes and looked_up >= self._probe_records and found * 2 >= looked_up:
            return self._count(count_held) <= AUTO_MAX_SUBSCRIBERS
        return self._worth(records_seen, EXPORT_COST_IN_LOOKUPS, count_held)

    def worth_finishing(self, records_left: int, rows_read: int, count_held: Callable[[], int]) -> bool:
        """At the end of the input: whether the `records_left` to plan would cost more in lookups than reading the
        rest of an export that has `rows_read` rows in so far."""
        if self._mode != "auto":
            return self._mode == "always"
        return records_left * EXPORT_COST_IN_LOOKUPS >= self._count(count_held) - rows_read

    def _count(self, count_held: Callable[[], int]) -> int:
        if self._held is None:
            self._held = count_held()
        return self._held

    def _worth(self, records_seen: int, export_cost_in_lookups: int, count_held: Callable[[], int]) -> bool:
        if self._mode != "auto":
            return self._mode == "always"
        if records_seen < self._min_records:
            return False
        held = self._count(count_held)
        return held <= AUTO_MAX_SUBSCRIBERS and records_seen * export_cost_in_lookups >= held
