"""The `tanggap` command line.

    tanggap demo                  the whole pipeline on the embedded broker, with sample posts
    tanggap run                   broker (when TANGGAP_BROKER is empty) + worker
    tanggap worker                a worker against TANGGAP_BROKER
    tanggap broker                the embedded broker on 127.0.0.1:9092
    tanggap topics                create the topics
    tanggap reset-state           move the local table state aside (it is ahead of the broker)
    tanggap alert-bridge          forward SLA events on `breaches` to Alertmanager as alerts
    tanggap replay FILE.jsonl     publish posts (or --topic responses; --format x|meta|... for native payloads,
                                  csv|jsonl|tweet-harvest|x-v1.1 [--map ...] for archives)
    tanggap ingest-server         the HTTP ingest door alone (POST /ingest)
    tanggap tail TOPIC            print a topic's events
    tanggap triage FILE.jsonl     dedupe + classify + assign a file (or an archive: --format), no Kafka
    tanggap eval FILE.jsonl       score triage against the `expect` labels of a file
    tanggap train [ARCHIVE.jsonl]  train the triage model (kind and category) for a configuration
    tanggap dedupe-eval FILE.jsonl  pair precision/recall of near-duplicate clustering (expect.group)
    tanggap backtest POSTS [--responses FILE] [--compare DIR]  SLA figures of an archive, in event time
    tanggap config check [DIR]    validate a configuration directory
    tanggap settings              the environment variables and their effective values

Errors a user can fix (configuration, settings, an unreachable broker) end with one line on
stderr and a non-zero exit status, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson

from agents.domain.config import ConfigError, TanggapConfig, load_config
from agents.domain.cluster import Clusterer, ClusterPolicy, route
from agents.domain.state import ClusterEntry, ThreadEntry
from agents.domain.triage import Triage
from schemas.events import InvalidInput, RawPost, message_key, post_key
from streams.broker import BrokerError, EmbeddedBroker
from streams.evaluate import QUALITY_FLOORS
from streams.kafka import BrokerUnavailable, consume, create_topics, produce
from streams.progress import Progress
from streams.settings import EMBEDDED_TUNING, SETTINGS, Settings, SettingsError, describe, effective_value
from streams.topics import TopicNames

# aiokafka logs connection failures itself; without a handler Python's last-resort handler
# would print them beside our one-line error. Worker processes configure real logging later.
logging.getLogger("aiokafka").addHandler(logging.NullHandler())

EXIT_USAGE = 2
TEAM_POSTS = Path(__file__).resolve().parent.parent / "deploy" / "training" / "team_posts"
"""The posts the team wrote to train the bundled model (in a source checkout)."""
EXPECTATION_FIELD = "expect"
"""Sample files carry each post's expected decision under this key; it is never published."""


class CliError(Exception):
    pass


def _settings(args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ)
    if extra_env:
        env.update(extra_env)
    if getattr(args, "config", None):
        env["TANGGAP_CONFIG"] = args.config
    if getattr(args, "broker", None):
        env["TANGGAP_BROKER"] = args.broker
    return Settings.from_env(env)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Lines of a JSON-lines file as (line number, bytes); blank lines are skipped."""
    source = sys.stdin.buffer if str(path) == "-" else open(path, "rb")
    with source:
        for number, line in enumerate(source, start=1):
            line = line.strip()
            if line:
                yield number, line


def strip_expectation(line: bytes) -> tuple[bytes | None, bytes]:
    """A sample line as it is published: keyed by thread key (schemas.events.message_key),
    value without `expect`."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, line
    if not isinstance(value, dict):
        return None, line
    if EXPECTATION_FIELD in value:
        value.pop(EXPECTATION_FIELD)
        line = orjson.dumps(value)
    return message_key(value), line


def triage_lines(config: TanggapConfig, lines: Iterator[tuple[int, bytes]],
                 policy: ClusterPolicy | None = None) -> Iterator[dict]:
    """Batch triage with exactly the functions the stream runs (triage, then near-duplicate
    clustering); invalid lines are reported."""
    triage = Triage(config)
    clusterer = Clusterer(policy, config.timezone)
    state: dict[str, ThreadEntry] = {}
    orphans: dict[str, list[dict]] = {}
    clusters: dict[str, ClusterEntry] = {}

    def apply(result) -> Iterator[dict]:
        result.apply(state, orphans)
        direct, envelopes = route(result)
        yield from direct
        for envelope in envelopes.values():
            clustered = clusterer.process(envelope, clusters)
            clustered.apply(clusters)
            yield from clustered.records

    for number, line in lines:
        try:
            value = orjson.loads(line)
            if isinstance(value, dict):
                value.pop(EXPECTATION_FIELD, None)
            post = RawPost.parse(value if isinstance(value, dict) else line)
        except (InvalidInput, orjson.JSONDecodeError) as exc:
            reason = exc.reason if isinstance(exc, InvalidInput) else "invalid_json"
            yield {"line": number, "outcome": "invalid", "reason": reason, "detail": str(exc)}
            continue
        yield from apply(triage.process(post, state, orphans))
    # The whole file has been read: parents still missing will not come.
    for parent_key in sorted(orphans):
        released = triage.release(parent_key, orphans, state)
        if released is not None:
            yield from apply(released)


def cmd_triage(args: argparse.Namespace) -> int:
    from streams import archives

    config = load_config(_settings(args).config_dir)
    out = sys.stdout.buffer
    progress = Progress("triaged")
    outcomes: Counter[str] = Counter()
    from agents.cluster import policy_from

    report = None
    lines = read_jsonl(args.file)
    if archives.is_archive(args):
        rows, report = _open_archive(args)
        lines = archives.archive_lines(rows)
    for record in triage_lines(config, lines, policy_from(_settings(args))):
        out.write(orjson.dumps(record) + b"\n")
        outcomes[record["outcome"]] += 1
        progress.advance()
    for bad in report.bad if report else ():
        out.write(orjson.dumps(bad.to_json()) + b"\n")
    out.flush()
    progress.finish(", ".join(f"{outcome} {n:,}" for outcome, n in outcomes.most_common()))
    if report is not None:
        report.write(path=args.bad_rows)
    return 0


def _open_archive(args: argparse.Namespace, path: str | None = None):
    from streams import archives

    try:
        return archives.open_archive(args, path)
    except archives.MapError as exc:
        raise CliError(str(exc)) from None


def cmd_dedupe_eval(args: argparse.Namespace) -> int:
    """Pair precision and recall of `tanggap triage` against the `expect.group` labels."""
    from agents.cluster import policy_from
    from agents.domain.cluster import score_pairs

    settings = _settings(args)
    config = load_config(settings.config_dir)
    lines = list(read_jsonl(args.file))
    labels = [orjson.loads(line).get(EXPECTATION_FIELD) or {} for _, line in lines]
    if not all("group" in label for label in labels):
        raise CliError(f"{args.file}: every line needs expect.group")
    keys = [post_key(p["platform"], p["post_id"]) for p in (orjson.loads(line) for _, line in lines)]
    final = {r["post_key"]: r.get("complaint_id") for r in triage_lines(config, iter(lines), policy_from(settings))
             if "post_key" in r}
    scores = score_pairs(labels, [final.get(key) for key in keys])
    print(f"posts {scores.posts:,}  duplicate groups {scores.groups:,}  unclustered posts {scores.unclustered}")
    print(f"pairs: true {scores.true_pairs:,}  predicted {scores.predicted_pairs:,}  correct {scores.correct_pairs:,}")
    for kind, count in scores.hard_pairs.items():
        print(f"hard non-duplicates {kind}: {scores.hard_group_pairs[kind]:,} group pairs, "
              f"{count:,} post pairs, merged {scores.hard_merged[kind]:,}")
    print(f"  of which same category: {scores.hard_same_category:,} post pairs, merged {scores.hard_merged_same_category:,}")
    print(f"true pairs with a post triage ignored: {scores.ignored_pairs:,} ({scores.both_ignored_pairs:,} with both "
          f"ignored: no complaint to meet); pair recall over the pairs with a complaint "
          f"{scores.recall_with_a_complaint:.4f}")
    floors = scores.precision >= 0.98 and scores.recall >= 0.90
    print(f"pair precision {scores.precision:.4f} (floor 0.98)  pair recall {scores.recall:.4f} (floor 0.90)  "
          f"{'ok' if floors else 'BELOW FLOOR'}")
    return 0 if floors or not args.strict else 1


def evaluate_file(config: TanggapConfig, path: str | Path, label_confidence: str | None = None,
                  progress: Progress | None = None, source: str | None = None):
    """Triage a labelled file exactly as the stream would and score it (streams/evaluate.py);
    with `label_confidence`, only the posts labelled with that confidence (posts without one
    count as high); with `source`, only the posts whose `source` field is that."""
    from streams import evaluate

    lines = list(read_jsonl(path))
    labelled = [orjson.loads(line) for _, line in lines]
    if label_confidence or source:
        keep = [i for i, post in enumerate(labelled)
                if (not label_confidence or post.get("label_confidence", "high") == label_confidence)
                and (not source or post.get("source") == source)]
        lines, labelled = [lines[i] for i in keep], [labelled[i] for i in keep]
    records = triage_lines(config, iter(lines))
    if progress is not None:
        progress.total = len(lines)
        records = _advancing(records, progress)
    pairs = evaluate.pair_with_expectations(labelled, records)
    if progress is not None:
        progress.finish()
    return evaluate.evaluate(pairs, config.actionable_kinds, {i: post.get("text") for i, post in enumerate(labelled)})


def _advancing(records: Iterator[dict], progress: Progress) -> Iterator[dict]:
    for record in records:
        progress.advance()
        yield record


def cmd_eval(args: argparse.Namespace) -> int:
    from streams import evaluate

    config = load_config(_settings(args).config_dir)
    floors_name = args.floors or (Path(args.file).stem if Path(args.file).stem in evaluate.QUALITY_FLOORS else "devset")
    report = evaluate_file(config, args.file, args.label_confidence, Progress("evaluated"))
    floors = evaluate.QUALITY_FLOORS[floors_name]
    print(f"floors: {floors_name}")
    print(evaluate.render(report, show_errors=args.errors, floors=floors))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))
    return 1 if args.strict and report.failed_floors(floors) else 0


def cmd_train(args: argparse.Namespace) -> int:
    """Fit the triage model on labelled archives, the team's posts and the licensed corpora."""
    from streams.train import TrainingError, train, training_set

    settings = _settings(args)
    config = load_config(settings.config_dir, with_model=False)
    archives = [Path(p) for p in args.archives]
    team_posts = None if args.no_team_posts else Path(args.team_posts)
    corpora = Path(args.corpora) if args.corpora else None
    description = Path(args.corpora_toml)
    try:
        if args.cv:
            if len(archives) != 1:
                raise CliError("--cv scores one archive: name exactly one")
            base = training_set(config, [], team_posts=team_posts, corpora=corpora, corpora_description=description)
            _cross_validate(config, base, archives[0], args.cv, args.c)
            return 0
        training = training_set(config, archives, team_posts=team_posts, corpora=corpora, corpora_description=description,
                                archive_weight=args.archive_weight)
        command = "tanggap train " + " ".join(
            [*(p.name for p in archives), *(["--corpora CORPORA"] if corpora else []),
             *(["--no-team-posts"] if team_posts is None else []), f"--archive-weight {args.archive_weight:g}",
             f"--c {args.c:g}"])
        model = train(config, training, c=args.c, command=command)
    except TrainingError as exc:
        raise CliError(str(exc)) from None
    out = Path(args.out) if args.out else config.directory_path / "model" / "triage_model.npz"
    model.save(out)
    print(f"wrote {out}: {model.manifest['features']:,} features from {model.manifest['examples']:,} posts")
    for source in model.manifest["sources"]:
        print(f"  {source['path']}: {source['rows']:,} rows {source['kinds']}")
    settings_file = config.directory_path / "model.toml"
    if not settings_file.exists() and out.parent == config.directory_path / "model":
        settings_file.write_text(default_model_settings(f"model/{out.name}"), encoding="utf-8")
        print(f"wrote {settings_file}: the configuration now uses the model (default thresholds)")
    return 0


def _cross_validate(config: TanggapConfig, base, archive: Path, k: int, c: float) -> None:
    """Score every post of `archive` with a model trained on `base` and the other k-1 folds."""
    import dataclasses

    from streams import evaluate
    from streams.train import TrainingSet, folds, train, training_set

    # Official replies are not classified, and training skips them: leave them out here too, so
    # the archive's lines and its training examples stay one to one.
    lines = [(n, line) for n, line in read_jsonl(archive)
             if (orjson.loads(line).get("expect") or {}).get("kind") != "respon_resmi"]
    examples = training_set(config, [archive], team_posts=None, corpora=None, corpora_description=None).examples
    pairs = []
    for number, fold in enumerate(folds(len(lines), k), start=1):
        held_out = set(fold)
        training = TrainingSet([*base.examples, *(e for i, e in enumerate(examples) if i not in held_out)])
        fold_config = dataclasses.replace(config, model=train(config, training, c=c))
        fold_lines = [lines[i] for i in fold]
        pairs += evaluate.pair_with_expectations([orjson.loads(line) for _, line in fold_lines],
                                                 triage_lines(fold_config, iter(fold_lines)))
        print(f"fold {number}/{k}: trained on {len(training.examples):,} posts, scored {len(fold)}", file=sys.stderr)
    print(f"{k}-fold cross-validation of {archive} (each post scored by a model that never saw it)")
    print(evaluate.render(evaluate.evaluate(pairs, config.actionable_kinds), floors=()))


def default_model_settings(file: str) -> str:
    """A model.toml with the default thresholds, for a configuration that has none yet."""
    import dataclasses

    from agents.domain.classify import DEFAULT_REVIEW_POLICY

    lines = ["# Written by `tanggap train`: see the bundled deploy/config/klaten/model.toml for what each key does.",
             "[model]", f'file = "{file}"']
    lines += [f"{f.name} = {getattr(DEFAULT_REVIEW_POLICY, f.name)}" for f in dataclasses.fields(DEFAULT_REVIEW_POLICY)]
    return "\n".join(lines) + "\n"


def cmd_backtest(args: argparse.Namespace) -> int:
    """Triage, clustering and SLA clocks over an archive in event time (streams/backtest.py)."""
    from agents.cluster import policy_from
    from streams import archives, backtest

    settings = _settings(args)
    try:
        until = backtest.parse_until(args.until)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    lines = read_jsonl(args.file)
    report = None
    if archives.is_archive(args):
        rows, report = _open_archive(args)
        lines = archives.archive_lines(rows)
    inputs = backtest.parse_inputs(lines, read_jsonl(args.responses) if args.responses else ())
    if report is not None:
        report.write(path=args.bad_rows)
    configs = [settings.config_dir] + ([Path(args.compare)] if args.compare else [])
    runs = []
    for directory in configs:
        config = load_config(directory)
        runs.append(backtest.run(config, inputs, policy=policy_from(settings), until=until, config_label=str(directory)))
    document = backtest.report(runs, inputs, posts_path=args.file, responses_path=args.responses, until=until,
                               tz=load_config(configs[0]).timezone)
    print(backtest.render(document))
    json_path, csv_path = backtest.write_outputs(document, args.out)
    print(f"wrote {json_path} and {csv_path}", file=sys.stderr)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    directory = args.dir or _settings(args).config_dir
    print(load_config(directory).summary())
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(describe())
    print("\neffective:")
    for setting in SETTINGS:
        print(f"  {setting.env}={effective_value(setting)}")
    print(f"  (config directory: {settings.config_dir})")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    settings = _settings(args)
    created = asyncio.run(create_topics(settings))
    print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else " (all existed)"))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    settings = _settings(args)
    topic = TopicNames.from_settings(settings).resolve(args.topic)
    from streams import archives

    if args.format == "raw":
        messages = [strip_expectation(line) for _, line in read_jsonl(args.file)]
    elif archives.is_archive(args):
        rows, report = _open_archive(args)
        messages = [(message_key(post), orjson.dumps(post)) for _, post in rows]
        report.write(path=args.bad_rows)
    else:
        from streams.ingest import adapt_lines

        messages, problems, skipped = adapt_lines(read_jsonl(args.file), args.format, settings)
        for problem in problems:
            print(f"tanggap: {args.file}: {problem}", file=sys.stderr)
        if skipped:
            print("skipped: " + ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())), file=sys.stderr)
    progress = Progress(f"published to {topic}", total=len(messages))
    asyncio.run(produce(settings, topic, messages, on_sent=progress.advance))
    progress.finish()
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    settings = _settings(args)
    topic = TopicNames.from_settings(settings).resolve(args.topic)

    async def tail() -> None:
        idle = None if args.follow else args.idle
        async for record in consume(settings, [topic], idle_timeout=idle, limit=args.limit):
            sys.stdout.write(record.value.decode("utf-8", "replace") + "\n")
            sys.stdout.flush()

    asyncio.run(tail())
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # Block the signals before waiting for them: otherwise SIGTERM kills this process before
    # the `finally` can stop the broker, which runs in its own session and would live on.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    broker = EmbeddedBroker(args.port or settings.embedded_port).start()
    print(f"embedded broker (Tansu) listening on {broker.bootstrap}; Ctrl-C stops it", file=sys.stderr)
    print("clients must send one record per batch to it: TANGGAP_PRODUCER_MAX_BATCH_BYTES=64", file=sys.stderr)
    try:
        signal.sigwait(stop_signals)
    finally:
        broker.stop()
    return 0


def check_local_state(settings: Settings, embedded: bool) -> None:
    """Local tables ahead of the broker's changelogs (streams/state.py): faust would stop the
    worker with a ConsistencyError. The embedded broker keeps nothing across restarts, so there
    the state is moved aside and the operator told what was lost; against a real broker the
    worker stops and names the recovery command."""
    from streams import state

    report = state.check(settings)
    if not report.ahead:
        return
    if embedded:
        running, total = state.open_clocks(settings)
        moved = state.set_aside(settings)
        print(f"tanggap: the embedded broker keeps nothing across restarts: the previous run's complaints, "
              f"{running} open SLA clocks ({total} clocks in all) and its topics are gone; the worker starts empty "
              f"(old table state moved to {moved}). The embedded broker is for evaluation: production needs "
              f"Kafka or Redpanda (TANGGAP_BROKER)", file=sys.stderr)
        return
    raise CliError(f"local table state in {report.directory} is ahead of the broker at {settings.broker} "
                   f"({report.describe_ahead()}): the broker lost the table changelogs, or this data directory "
                   f"belongs to another cluster or app id. To rebuild the tables from what the broker holds, stop "
                   f"every worker using {settings.data_dir}, run `tanggap reset-state` and start the worker again "
                   f"(docs/operations.md)")


def run_worker(settings: Settings, embedded: bool = False) -> int:
    from faust import Worker

    from streams.app import build_app

    config = load_config(settings.config_dir)
    # faust creates only the last level of its data directory.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = asyncio.run(create_topics(settings))
    if created:
        print(f"created topics: {', '.join(created)}", file=sys.stderr)
    check_local_state(settings, embedded)
    pipeline = build_app(settings, config)
    from streams.logs import logging_config

    worker = Worker(pipeline.app, loglevel=settings.log_level.upper(), quiet=True,
                    logging_config=logging_config(settings.log_level, settings.log_format))
    # faust's terminal spinner sets the root logger to DEBUG so that it can spin on every
    # record: every debug call in faust and aiokafka then builds a LogRecord (~10% of a busy
    # worker's CPU, measured with py-spy). A worker has no terminal to spin on.
    worker.spinner = None
    print(f"worker {settings.app_id}: broker {settings.broker}, metrics on "
          f"http://{settings.web_host}:{settings.web_port}/metrics", file=sys.stderr)
    worker.execute_from_commandline()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    return run_worker(_settings(args))


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.broker:
        return run_worker(settings)
    tuning = {k: v for k, v in EMBEDDED_TUNING.items() if not os.environ.get(k)}
    with EmbeddedBroker(settings.embedded_port) as broker:
        print(f"started the embedded broker on {broker.bootstrap}: for evaluation only, it keeps its topics in "
              f"memory and loses them when it stops; production needs Kafka or Redpanda (TANGGAP_BROKER)",
              file=sys.stderr)
        return run_worker(_settings(args, {**tuning, "TANGGAP_BROKER": broker.bootstrap}), embedded=True)


def cmd_reset_state(args: argparse.Namespace) -> int:
    """Move the local table state aside, so that the next worker rebuilds its tables from the
    broker's changelogs (the recovery when the local state is ahead of the broker)."""
    from streams import state

    settings = _settings(args)
    moved = state.set_aside(settings)
    if moved is None:
        print(f"no local table state under {settings.data_dir}")
    else:
        print(f"moved the local table state to {moved}; the next worker rebuilds its tables from the broker's changelogs")
    return 0


def cmd_alert_bridge(args: argparse.Namespace) -> int:
    from streams import alert_bridge
    from streams.logs import configure

    settings = _settings(args)
    configure(settings.log_level, settings.log_format)
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=settings.web_host)
    try:
        return asyncio.run(alert_bridge.run(settings))
    except alert_bridge.DeliveryFailed as exc:
        # Not committed: a restart delivers the same events again.
        print(f"tanggap: {exc}", file=sys.stderr)
        return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(_settings(args), sample=args.sample, speed=args.speed, timeout=args.timeout,
                    via_http=args.via_http)


def cmd_ingest_server(args: argparse.Namespace) -> int:
    from streams.ingest import serve

    settings = _settings(args)
    serve(settings, args.host or settings.web_host, args.port or settings.ingest_port)
    return 0


def archive_arguments(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    from streams.archives import add_arguments

    add_arguments(parser, formats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tanggap", description="Complaint-response pipeline on Kafka.")
    parser.add_argument("--config", help="configuration directory (default: TANGGAP_CONFIG or the bundled Klaten one)")
    parser.add_argument("--broker", help="Kafka bootstrap servers (default: TANGGAP_BROKER)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_pipeline_commands(sub)
    _add_file_commands(sub)
    p = sub.add_parser("config", help="configuration tools")
    config_sub = p.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a configuration directory and print a summary")
    check.add_argument("dir", nargs="?", help="directory (default: the active configuration)")
    check.set_defaults(func=cmd_config)
    sub.add_parser("settings", help="print the settings table and effective values").set_defaults(func=cmd_settings)
    return parser


def _add_pipeline_commands(sub: argparse._SubParsersAction) -> None:
    """The commands that run or feed a pipeline on a broker."""
    p = sub.add_parser("demo", help="run the whole pipeline on the embedded broker with sample posts")
    p.add_argument("--sample", help="JSON-lines posts (default: the bundled sample)")
    p.add_argument("--speed", type=float, default=60000.0, help="simulated clock speed (default 60000x)")
    p.add_argument("--timeout", type=float, default=90.0, help="give up after this many seconds")
    p.add_argument("--via-http", action="store_true", help="feed the sample through the worker's POST /ingest")
    p.set_defaults(func=cmd_demo)

    sub.add_parser("run", help="embedded broker (if TANGGAP_BROKER is empty) + worker").set_defaults(func=cmd_run)
    sub.add_parser("worker", help="run a worker against TANGGAP_BROKER").set_defaults(func=cmd_worker)

    p = sub.add_parser("broker", help="run the embedded broker in the foreground")
    p.add_argument("--port", type=int, help="port (default TANGGAP_EMBEDDED_PORT, 9092)")
    p.set_defaults(func=cmd_broker)

    sub.add_parser("topics", help="create Tanggap's topics").set_defaults(func=cmd_topics)
    sub.add_parser("reset-state", help="move the local table state (TANGGAP_DATA_DIR) aside; stop the worker first"
                   ).set_defaults(func=cmd_reset_state)

    p = sub.add_parser("alert-bridge", help="forward SLA events on `breaches` to Alertmanager (TANGGAP_ALERTMANAGER_URL)")
    p.add_argument("--metrics-port", type=int, help="serve the bridge's own /metrics on this port")
    p.set_defaults(func=cmd_alert_bridge)

    p = sub.add_parser("replay", help="publish a JSON-lines file (posts by default)")
    p.add_argument("file", help="JSON-lines file, or - for stdin")
    p.add_argument("--topic", default="posts.raw", help="posts.raw (default) or responses")
    archive_arguments(p, ("raw", "x", "meta", "whatsapp", "tiktok", "youtube"))
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("ingest-server", help="the HTTP ingest endpoint alone (POST /ingest), publishing to posts.raw")
    p.add_argument("--host", help="interface (default TANGGAP_WEB_HOST)")
    p.add_argument("--port", type=int, help="port (default TANGGAP_INGEST_PORT, 6067)")
    p.set_defaults(func=cmd_ingest_server)

    p = sub.add_parser("tail", help="print a topic's events from the beginning")
    p.add_argument("topic", help="complaints, breaches, deadletter, posts.triaged, ... (prefix optional)")
    p.add_argument("--follow", "-f", action="store_true", help="keep waiting for new events")
    p.add_argument("--idle", type=float, default=2.0, help="stop after this many idle seconds (default 2)")
    p.add_argument("--limit", type=int, help="stop after this many events")
    p.set_defaults(func=cmd_tail)


def _add_file_commands(sub: argparse._SubParsersAction) -> None:
    """The commands that read files with the domain code, without Kafka."""
    p = sub.add_parser("triage", help="dedupe + classify + assign a JSON-lines file or an archive, without Kafka")
    p.add_argument("file", help="JSON-lines posts (or an archive, see --format), or - for stdin")
    archive_arguments(p, ("raw",))
    p.set_defaults(func=cmd_triage)

    p = sub.add_parser("eval", help="score triage against the `expect` labels of a JSON-lines file")
    p.add_argument("file", help="labelled JSON-lines posts (the format of streams/demo/sample_posts.jsonl)")
    p.add_argument("--errors", type=int, default=0, metavar="N", help="also list the first N posts with a wrong field")
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument("--label-confidence", choices=("high", "low"),
                   help="score only the posts whose label_confidence is this (posts without one count as high)")
    p.add_argument("--floors", choices=sorted(QUALITY_FLOORS),
                   help="the floors to check (default: the file's name where it names a set, else devset)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a floor is not met")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="train the triage model from labelled archives, the team's posts and licensed corpora")
    p.add_argument("archives", nargs="*", help="labelled JSON-lines posts (raw posts with `expect`: kind, category)")
    p.add_argument("--out", help="artifact path (default: CONFIG/model/triage_model.npz)")
    p.add_argument("--team-posts", default=str(TEAM_POSTS), help=f"folder of the team's labelled posts (default {TEAM_POSTS})")
    p.add_argument("--no-team-posts", action="store_true", help="train on the archives (and corpora) alone")
    p.add_argument("--corpora", help="folder of the licensed corpora (shared/data/realtext/corpora)")
    p.add_argument("--corpora-toml", default=str(TEAM_POSTS.parent / "corpora.toml"),
                   help="how the corpora are labelled (default: deploy/training/corpora.toml)")
    p.add_argument("--archive-weight", type=float, default=2.0,
                   help="weight of an archive's posts against the team's posts (default 2: the regency's own people)")
    p.add_argument("--c", type=float, default=4.0, help="inverse regularization strength (default 4)")
    p.add_argument("--cv", type=int, metavar="K", help="instead of writing a model, score the one archive by K-fold cross-validation")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("backtest", help="what the SLA figures would have been: triage, clustering and SLA clocks "
                                        "over an archive in event time, without Kafka")
    p.add_argument("file", help="posts: JSON lines (or an archive, see --format), or - for stdin")
    p.add_argument("--responses", metavar="FILE", help="desk responses, JSON lines (the `responses` topic's contract)")
    p.add_argument("--compare", metavar="DIR", help="a second configuration directory, reported side by side")
    p.add_argument("--until", help="run the clocks until this RFC 3339 instant, or `end` (every deadline passes); "
                                   "default: the last post or response")
    p.add_argument("--out", default="backtest", metavar="PREFIX", help="write PREFIX.json and PREFIX.csv (default backtest)")
    archive_arguments(p, ("raw",))
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("dedupe-eval", help="pair precision/recall of near-duplicate clustering against expect.group")
    p.add_argument("file", help="labelled JSON-lines posts (the format of tests/data/dedupe_set.jsonl; "
                                "tests/data/make_real_dedupe_set.py writes the real-text set)")
    p.add_argument("--strict", action="store_true", help="exit 1 when pair precision < 0.98 or pair recall < 0.90")
    p.set_defaults(func=cmd_dedupe_eval)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, SettingsError, BrokerUnavailable, BrokerError, CliError) as exc:
        print(f"tanggap: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"tanggap: {exc.filename}: no such file", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (`| head`) went away: not an error, but Python must not print on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
