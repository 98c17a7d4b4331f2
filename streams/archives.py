"""Archive import: posts collected by other tools, read as raw posts.

    read_archive(path, fmt, column_map, tz, report) -> iterator of (row number, raw post dict)

Formats (`--format` of `tanggap triage`, `tanggap replay` and `tanggap backtest`):

| format | rows | default map |
| --- | --- | --- |
| `csv` | a CSV file with a header row (UTF-8, BOM allowed; quoted fields may span lines) | columns named like the raw-post fields |
| `jsonl` | one JSON object per line | keys named like the raw-post fields |
| `tweet-harvest` | `csv` with the built-in map of tweet-harvest's CSV | `tweet-harvest` |
| `x-v1.1` | `jsonl` with the built-in map of X API v1.1 tweet objects | `x-v1.1` |

A column map (`--map`) says where each raw-post field comes from: `field=column` entries
separated by commas, `|` between alternatives tried in order (the first non-empty one wins),
dotted paths into JSON objects and `[]` for a list (`entities.user_mentions[].screen_name`). A
built-in map's name may start the spec and entries after it replace its own
(`--map tweet-harvest,lang=bahasa`). Fields: post_id, text, created_at, platform, author.id,
author.handle, author.name, url, reply_to, repost_of, addressed_to, lang.

- `reply_to` equal to the post's own id is dropped: tweet-harvest has no parent id, only the
  conversation's (`conversation_id_str`), so a reply is placed under its conversation's first post.
- `addressed_to`: the mapped values (split on commas and spaces, `@` removed) and the @handles
  written in the text.
- `url`: when not mapped, an X post's is built from its handle and id.
- `platform`: from the map, else `--platform`, else the built-in map's (`twitter` for both X maps).
- Dates (`parse_archive_time`): RFC 3339; X's legacy `Sun Aug 31 23:42:30 +0000 2025`;
  `dd/mm/yyyy HH:MM[:SS]` with an optional zone (`+07:00`, `+0700`, `WIB`, `WITA`, `WIT`, `UTC`,
  `Z`); epoch seconds or milliseconds. A time without a zone is in `tz` (default WIB,
  Asia/Jakarta).

A row that cannot become a valid raw post is a *bad row*: it is counted by reason and listed in
the report (`ArchiveReport`), never fatal. Reasons: `invalid_json`, `not_an_object`, `bad_row`
(a CSV row whose field count differs from the header's, or unreadable), `missing_field`,
`bad_timestamp`, `schema_violation`, `too_large` (the dead-letter codes where they apply).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from schemas.adapters import mentions_in
from schemas.events import InvalidInput, RawPost

WIB = ZoneInfo("Asia/Jakarta")
FIELDS = ("post_id", "text", "created_at", "platform", "author.id", "author.handle", "author.name", "url",
          "reply_to", "repost_of", "addressed_to", "lang")
REQUIRED = ("post_id", "text", "created_at", "author.id")
BAD_ROW_REASONS = ("invalid_json", "not_an_object", "bad_row", "missing_field", "bad_timestamp",
                   "schema_violation", "too_large")
NO_LANGUAGE = frozenset({"und", "zxx", "qme", "qam", "qht", ""})
CSV_FIELD_LIMIT = 1 << 20


class MapError(ValueError):
    """A column map that cannot be used (unknown field, empty column)."""


class RowError(ValueError):
    """A row that cannot become a raw post, with its bad-row reason (not a dead-letter reason:
    these rows never reach a topic)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ColumnMap:
    name: str
    container: str
    """`csv` or `jsonl`."""
    fields: Mapping[str, tuple[str, ...]]
    """Raw-post field -> source columns (or JSON paths), tried in order."""
    platform: str | None = None

    def describe(self) -> str:
        return ",".join(f"{name}={'|'.join(columns)}" for name, columns in self.fields.items())


def _identity(container: str) -> ColumnMap:
    fields = {name: (name,) for name in FIELDS}
    fields["author.id"] = ("author.id", "author_id")
    fields["author.handle"] = ("author.handle", "author_handle", "handle")
    fields["author.name"] = ("author.name", "author_name")
    return ColumnMap(container, container, fields)


BUILTIN_MAPS: dict[str, ColumnMap] = {
    # tweet-harvest (npm) CSV: created_at, id_str, full_text, quote_count, reply_count,
    # retweet_count, favorite_count, lang, user_id_str, conversation_id_str, username, tweet_url,
    # image_url, location, in_reply_to_screen_name.
    "tweet-harvest": ColumnMap("tweet-harvest", "csv", {
        "post_id": ("id_str",),
        "text": ("full_text",),
        "created_at": ("created_at",),
        "author.id": ("user_id_str", "username"),
        "author.handle": ("username",),
        "url": ("tweet_url",),
        "reply_to": ("conversation_id_str",),
        "addressed_to": ("in_reply_to_screen_name",),
        "lang": ("lang",),
    }, platform="twitter"),
    # X API v1.1 tweet objects (statuses/*, search/tweets with tweet_mode=extended, the v1.1
    # streaming and Account Activity payloads' tweets).
    "x-v1.1": ColumnMap("x-v1.1", "jsonl", {
        "post_id": ("id_str", "id"),
        "text": ("extended_tweet.full_text", "full_text", "text"),
        "created_at": ("created_at",),
        "author.id": ("user.id_str", "user.id"),
        "author.handle": ("user.screen_name",),
        "author.name": ("user.name",),
        "reply_to": ("in_reply_to_status_id_str", "in_reply_to_status_id"),
        "repost_of": ("retweeted_status.id_str", "quoted_status_id_str", "quoted_status.id_str"),
        "addressed_to": ("entities.user_mentions[].screen_name",),
        "lang": ("lang",),
    }, platform="twitter"),
}
FORMATS = ("csv", "jsonl", *BUILTIN_MAPS)


def parse_map(spec: str | None, fmt: str) -> ColumnMap:
    """The column map of `--format fmt --map spec`."""
    base = BUILTIN_MAPS[fmt] if fmt in BUILTIN_MAPS else _identity(fmt)
    if not spec:
        return base
    entries = [part.strip() for part in spec.split(",") if part.strip()]
    if entries and "=" not in entries[0]:
        name = entries.pop(0)
        if name not in BUILTIN_MAPS:
            raise MapError(f"unknown map {name!r}: a built-in map ({', '.join(BUILTIN_MAPS)}) or field=column entries")
        base = BUILTIN_MAPS[name]
        if fmt in ("csv", "jsonl") and base.container != fmt:
            raise MapError(f"map {name!r} reads {base.container}, not {fmt}")
    fields = dict(base.fields)
    for entry in entries:
        name, _, columns = entry.partition("=")
        name = name.strip()
        if name in ("author_id", "author_handle", "author_name"):
            name = name.replace("_", ".")
        if name not in FIELDS:
            raise MapError(f"--map: unknown field {name!r}; fields: {', '.join(FIELDS)}")
        sources = tuple(c.strip() for c in columns.split("|") if c.strip())
        if not sources:
            raise MapError(f"--map: no column for {name!r}")
        fields[name] = sources
    return replace(base, name=spec, fields=fields)


# --- dates --------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_LEGACY = re.compile(r"^(?:[A-Za-z]{3}),?\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+([+-]\d{4})\s+(\d{4})$")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:,?\s+(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?\s*(.*)$")
_ZONES = {"WIB": timedelta(hours=7), "WITA": timedelta(hours=8), "WIT": timedelta(hours=9),
          "UTC": timedelta(0), "GMT": timedelta(0), "Z": timedelta(0)}
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$")


def _zone(text: str, default: tzinfo) -> tzinfo | None:
    text = text.strip()
    if not text:
        return default
    if text.upper() in _ZONES:
        return timezone(_ZONES[text.upper()])
    match = _OFFSET.match(text.upper())
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ValueError, KeyError, OSError):
        return None


def parse_archive_time(value: Any, tz: tzinfo = WIB) -> str:
    """An archive's timestamp as RFC 3339 (with its offset); raises ValueError when unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        raise ValueError("empty timestamp")
    text = value.strip()
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return _from_epoch(float(text))
    match = _LEGACY.match(text)
    if match:
        month, day, hour, minute, second, offset, year = match.groups()
        if month.lower() not in _MONTHS:
            raise ValueError(f"unknown month in {text!r}")
        sign = -1 if offset[0] == "-" else 1
        try:
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
            at = datetime(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second), tzinfo=zone)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        return at.isoformat()
    match = _DMY.match(text)
    if match:
        day, month, year, hour, minute, second, rest = match.groups()
        zone = _zone(rest, tz)
        if zone is None:
            raise ValueError(f"unknown time zone {rest!r} in {text!r}")
        try:
            at = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=zone)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        return at.isoformat()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unreadable timestamp {text!r}: RFC 3339, X's legacy format or dd/mm/yyyy HH:MM") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.isoformat()


def _from_epoch(seconds: float) -> str:
    if seconds > 1e11:
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


# --- rows ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BadRow:
    row: int
    """1-based: the data row of a CSV (header excluded), the line of a JSON-lines file."""
    reason: str
    detail: str
    line: int | None = None
    """The CSV line the row ended on (rows may span lines)."""

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "outcome": "invalid", "reason": self.reason, "detail": self.detail}

    def describe(self) -> str:
        where = f"row {self.row}" + (f" (line {self.line})" if self.line and self.line != self.row + 1 else "")
        return f"{where}: {self.reason}: {self.detail}"


@dataclass
class ArchiveReport:
    rows: int = 0
    good: int = 0
    bad: list[BadRow] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(row.reason for row in self.bad)

    def add_bad(self, row: BadRow) -> None:
        self.bad.append(row)

    def summary(self) -> str:
        counts = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.counts().items()))
        return f"{self.rows:,} rows: {self.good:,} posts, {len(self.bad):,} bad rows" + (f" ({counts})" if counts else "")

    def write(self, stream=None, *, limit: int = 50, path: str | Path | None = None) -> None:
        """The summary and the bad rows (the first `limit` of them; every one to `path` as JSON lines)."""
        stream = stream if stream is not None else sys.stderr
        print(f"archive: {self.summary()}", file=stream)
        for bad in self.bad[:limit]:
            print(f"  {bad.describe()}", file=stream)
        if len(self.bad) > limit:
            more = f"every one is in {path}" if path else "--bad-rows FILE lists every one"
            print(f"  … {len(self.bad) - limit:,} more ({more})", file=stream)
        if path:
            Path(path).write_bytes(b"".join(orjson.dumps(bad.to_json()) + b"\n" for bad in self.bad))


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    """A CSV column, or a dotted JSON path with `[]` projecting a list."""
    if path in record:
        return record[path]
    value: Any = record
    parts = path.split(".")
    for index, part in enumerate(parts):
        if part.endswith("[]"):
            items = value.get(part[:-2]) if isinstance(value, Mapping) else None
            if not isinstance(items, list):
                return None
            rest = ".".join(parts[index + 1:])
            return [v for item in items if isinstance(item, Mapping) and (v := _lookup(item, rest) if rest else item) is not None]
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def _first(record: Mapping[str, Any], sources: tuple[str, ...]) -> Any:
    for source in sources:
        value = _lookup(record, source)
        if value is None or value == "" or value == []:
            continue
        return value
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def to_raw_post(record: Mapping[str, Any], column_map: ColumnMap, tz: tzinfo, platform: str | None) -> dict[str, Any]:
    """One archive row as a raw post (validated); raises RowError, or InvalidInput from the
    contract's validation, with a bad-row reason."""
    fields = column_map.fields
    values = {name: _first(record, sources) for name, sources in fields.items()}
    missing = [f"{name} ({'|'.join(fields.get(name, (name,)))})" for name in REQUIRED if _text(values.get(name)) is None]
    if missing:
        raise RowError("missing_field", "no " + ", no ".join(missing))
    text = values["text"]
    if not isinstance(text, str):
        raise RowError("schema_violation", f"text is a {type(text).__name__}, not a string")
    try:
        created_at = parse_archive_time(values["created_at"], tz)
    except ValueError as exc:
        raise RowError("bad_timestamp", str(exc)) from None
    post_id = _text(values["post_id"])
    handle = _text(values.get("author.handle"))
    handle = handle.lstrip("@") if handle else None
    chosen_platform = _text(values.get("platform")) or platform or column_map.platform
    if not chosen_platform:
        raise RowError("missing_field", "no platform (map a column or give --platform)")
    addressed: list[str] = []
    mapped = values.get("addressed_to")
    for item in mapped if isinstance(mapped, list) else [mapped]:
        item = _text(item)
        if item:
            addressed.extend(h.lstrip("@") for h in re.split(r"[,\s]+", item) if h.strip("@"))
    addressed.extend(mentions_in(text))
    reply_to = _text(values.get("reply_to"))
    repost_of = _text(values.get("repost_of"))
    url = _text(values.get("url"))
    if url is None and chosen_platform == "twitter" and handle:
        url = f"https://x.com/{handle}/status/{post_id}"
    lang = _text(values.get("lang"))
    post = {
        "platform": chosen_platform, "post_id": post_id, "text": text, "created_at": created_at,
        "author": {"id": _text(values["author.id"]), "handle": handle, "name": _text(values.get("author.name"))},
        "url": url,
        "reply_to": reply_to if reply_to != post_id else None,
        "repost_of": repost_of if repost_of != post_id else None,
        "addressed_to": list(dict.fromkeys(a for a in addressed if a and a.lower() != (handle or "").lower())),
        "lang": None if lang is None or lang.lower() in NO_LANGUAGE else lang,
    }
    RawPost.parse(post)  # the contract: raises InvalidInput (schema_violation, too_large, ...)
    return post


def _csv_rows(source: io.TextIOBase, report: ArchiveReport) -> Iterator[tuple[int, int, dict[str, Any] | None]]:
    """(row, line, record) of a CSV; a malformed row is reported and yields None."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(source)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        report.add_bad(BadRow(0, "bad_row", f"unreadable header: {exc}", 1))
        return
    header = [name.strip() for name in header]
    row = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row += 1
            report.rows += 1
            report.add_bad(BadRow(row, "bad_row", f"unreadable CSV: {exc}", reader.line_num))
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        row += 1
        if len(fields) != len(header):
            report.rows += 1
            report.add_bad(BadRow(row, "bad_row", f"{len(fields)} fields, the header has {len(header)}", reader.line_num))
            continue
        yield row, reader.line_num, dict(zip(header, fields))


def read_archive(path: str | Path, fmt: str, column_map: ColumnMap, report: ArchiveReport, *,
                 tz: tzinfo = WIB, platform: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """The good rows of an archive as (row number, raw post); bad rows go to `report`."""
    container = column_map.container if fmt in BUILTIN_MAPS else fmt
    stdin = str(path) == "-"
    if container == "csv":
        source = (io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace", newline="")
                  if stdin else open(path, encoding="utf-8-sig", errors="replace", newline=""))
        with source:
            for row, line, record in _csv_rows(source, report):
                report.rows += 1
                try:
                    post = to_raw_post(record, column_map, tz, platform)
                except (InvalidInput, RowError) as exc:
                    report.add_bad(BadRow(row, exc.reason, exc.detail, line))
                    continue
                report.good += 1
                yield row, post
        return
    source = sys.stdin.buffer if stdin else open(path, "rb")
    with source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            report.rows += 1
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                report.add_bad(BadRow(number, "invalid_json", str(exc)))
                continue
            if not isinstance(record, dict):
                report.add_bad(BadRow(number, "not_an_object", f"a JSON {type(record).__name__}"))
                continue
            try:
                post = to_raw_post(record, column_map, tz, platform)
            except (InvalidInput, RowError) as exc:
                report.add_bad(BadRow(number, exc.reason, exc.detail))
                continue
            report.good += 1
            yield number, post


def zone(name: str | None) -> tzinfo:
    """`--tz`: an IANA name, an offset or WIB/WITA/WIT (default WIB)."""
    if not name:
        return WIB
    found = _zone(name, WIB)
    if found is None:
        raise MapError(f"--tz: unknown time zone {name!r}")
    return found


# --- the command line ---------------------------------------------------------------------------

def add_arguments(parser, formats: tuple[str, ...]) -> None:
    """`--format` (the given ones, then the archive formats), `--map`, `--tz`, `--platform`, `--bad-rows`."""
    parser.add_argument("--format", default=formats[0], choices=(*formats, *FORMATS),
                        help=f"input format (default {formats[0]}: the raw-post contract, JSON lines); "
                             + (f"{', '.join(formats[1:])}: one native payload per line, converted by its adapter; "
                                if len(formats) > 1 else "")
                             + "archives: csv and jsonl with --map, tweet-harvest (its CSV), x-v1.1 (X API v1.1 "
                               "tweet objects, one per line)")
    parser.add_argument("--map", metavar="SPEC",
                        help="archive column map: field=column[|fallback],... or a built-in map name "
                             f"({', '.join(BUILTIN_MAPS)}) followed by entries that replace its own")
    parser.add_argument("--tz", help="time zone of archive times written without one (default WIB, Asia/Jakarta)")
    parser.add_argument("--platform", help="platform of archive rows whose map names none")
    parser.add_argument("--bad-rows", metavar="PATH", help="write every bad archive row here as JSON lines")


def is_archive(args) -> bool:
    return getattr(args, "format", None) in FORMATS


def open_archive(args, path: str | None = None) -> tuple[Iterator[tuple[int, dict[str, Any]]], ArchiveReport]:
    """The good rows of the archive the arguments name (lazily), and the report they fill."""
    column_map = parse_map(args.map, args.format)
    report = ArchiveReport()
    return read_archive(path or args.file, args.format, column_map, report, tz=zone(args.tz),
                        platform=args.platform), report


def archive_lines(rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, bytes]]:
    """Archive rows as the (number, JSON bytes) lines `tanggap triage` reads."""
    for number, post in rows:
        yield number, orjson.dumps(post)
