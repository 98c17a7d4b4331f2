"""Train the triage model (agents/domain/model.py) from labelled posts: `tanggap train`.

Inputs are JSON-lines files of labelled posts, either raw posts with an ``expect`` object (the
format `tanggap eval` reads: a regency's own labelled archive) or short records
``{"kind", "category", "text", "platform"}`` (the posts the team wrote, deploy/training/), plus
the licensed corpora a ``corpora.toml`` describes, weakly labelled by its rules. Features come
from the configuration's own normalizer, so a model belongs to the configuration it was trained
with. Training is deterministic: the same inputs and seed give the same artifact.

scikit-learn fits the weights (multinomial logistic regression, L2); it is imported only here,
so workers and `tanggap triage` never load it.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from agents.domain.classify import KINDS
from agents.domain.config import TanggapConfig
from agents.domain.model import FORMAT_VERSION, TriageModel, features
from agents.domain.triage import OFFICIAL_KIND

SEED = 20261207
DEFAULT_C = 4.0
BALANCE_POWER = 0.5
"""0 trains on the labels as they come, 1 weighs every label equally; between, a compromise."""
MIN_DOCUMENTS = 2
"""A feature must appear in this many training posts to enter the vocabulary."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    kind: str
    category: str | None
    platform: str = "other"
    addressed: tuple[str, ...] = ()
    weight: float = 1.0
    source: str = ""


@dataclass
class TrainingSet:
    examples: list[Example] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    """What was read: path, rows, sha256, weight, licence."""

    def add(self, examples: list[Example], source: dict[str, Any]) -> None:
        self.examples.extend(examples)
        self.sources.append({**source, "rows": len(examples),
                             "kinds": dict(sorted(Counter(e.kind for e in examples).items()))})


class TrainingError(Exception):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_labelled(path: Path, weight: float = 1.0, categories: Iterable[str] = ()) -> list[Example]:
    """Labelled posts of one file; a line without a usable label is an error naming the line."""
    known_categories = set(categories)
    examples = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise TrainingError(f"{path}:{number}: invalid JSON ({exc})") from None
        label = row.get("expect") or row
        kind, category = label.get("kind"), label.get("category")
        text = row.get("text")
        if kind == OFFICIAL_KIND:
            continue  # an official account's reply: triage never classifies those
        if kind not in KINDS or not isinstance(text, str):
            raise TrainingError(f"{path}:{number}: needs text and a kind among {', '.join(KINDS)}")
        if known_categories and category is not None and category not in known_categories:
            raise TrainingError(f"{path}:{number}: unknown category {category!r}")
        examples.append(Example(text, kind, category, row.get("platform", "other"),
                                tuple(row.get("addressed_to") or ()), weight, path.name))
    return examples


def read_corpora(description: Path, corpora_dir: Path) -> TrainingSet:
    """The licensed corpora that `description` (a corpora.toml) names, labelled by its rules:
    a default kind per corpus, and patterns that make a row another kind (political names and
    words make a hate-speech tweet `politik`)."""
    doc = tomllib.loads(description.read_text(encoding="utf-8"))
    training = TrainingSet()
    for name, entry in doc.get("corpus", {}).items():
        path = corpora_dir / entry["file"]
        if not path.exists():
            raise TrainingError(f"{path}: corpus {name} missing (see {description})")
        patterns = [(re.compile(rule["pattern"], re.IGNORECASE), rule["kind"]) for rule in entry.get("relabel", [])]
        examples = []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            text = orjson.loads(line)["text"]
            kind = next((k for pattern, k in patterns if pattern.search(text)), entry["kind"])
            examples.append(Example(text, kind, None, "twitter", (), float(entry.get("weight", 1.0)), name))
        training.add(examples, {"path": f"corpora/{entry['file']}", "sha256": _sha256(path),
                                "weight": entry.get("weight", 1.0), "licence": entry.get("licence", "")})
    return training


def _featurize(config: TanggapConfig, examples: Sequence[Example]) -> list[list[str]]:
    rows = []
    for example in examples:
        normalized = config.normalizer.normalize(example.text)
        addressed = (*example.addressed, *normalized.mentions)
        official = bool(addressed) and bool(config.directory.opds_for_handles(addressed))
        rows.append(features(normalized, example.text, official))
    return rows


def idf_of(documents: Counter[str], total: int) -> dict[str, float]:
    """Smoothed inverse document frequency, as scikit-learn computes it."""
    return {name: float(np.log((1 + total) / (1 + count)) + 1) for name, count in documents.items()}


def _matrix(rows: list[list[str]], vocabulary: dict[str, int], idf: np.ndarray, unknown_idf: float):
    """Documents as rows: each occurrence of a feature adds its idf, and the row is divided by
    the square root of the sum of its occurrences' squared idf (known or not), exactly as
    TriageModel.score computes it."""
    from scipy.sparse import csr_matrix

    indptr, indices, values = [0], [], []
    for found in rows:
        counts = Counter(vocabulary.get(f, -1) for f in found)
        unknown = counts.pop(-1, 0)
        squares = unknown * unknown_idf ** 2 + sum(n * float(idf[c]) ** 2 for c, n in counts.items())
        scale = 1.0 / np.sqrt(squares) if squares else 0.0
        for column, count in sorted(counts.items()):
            indices.append(column)
            values.append(count * float(idf[column]) * scale)
        indptr.append(len(indices))
    return csr_matrix((np.array(values, dtype=np.float64), np.array(indices, dtype=np.int64),
                       np.array(indptr, dtype=np.int64)), shape=(len(rows), len(vocabulary)))


def _fit(matrix, labels: list[str], weights: np.ndarray, classes: Sequence[str], c: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (features x classes) and biases of a multinomial logistic regression; classes that
    never occur get a large negative bias, so the head still has a column for every label."""
    from sklearn.linear_model import LogisticRegression

    present = sorted(set(labels), key=list(classes).index)
    if len(present) < 2:
        raise TrainingError(f"need at least two labels to learn from, found {present}")
    # Half-balance the labels (weights by the square root of rarity): a rare kind (spam,
    # aspirasi) must not be drowned by chatter, and must not be inflated until a complaint that
    # says "terima kasih" reads as praise either.
    counts = Counter(labels)
    balance = np.array([(len(labels) / (len(counts) * counts[label])) ** BALANCE_POWER for label in labels])
    model = LogisticRegression(C=c, max_iter=3000, tol=1e-5, random_state=SEED)
    model.fit(matrix, labels, sample_weight=weights * balance)
    coef = np.zeros((matrix.shape[1], len(classes)), dtype=np.float64)
    bias = np.full(len(classes), -30.0)
    for i, label in enumerate(model.classes_):
        j = list(classes).index(label)
        if len(model.classes_) == 2:
            # A binary fit has one column for the second class; split it symmetrically.
            sign = 1.0 if i == 1 else -1.0
            coef[:, j] = sign * model.coef_[0] / 2
            bias[j] = sign * model.intercept_[0] / 2
        else:
            coef[:, j] = model.coef_[i]
            bias[j] = model.intercept_[i]
    return coef, bias


def train(config: TanggapConfig, training: TrainingSet, *, c: float = DEFAULT_C,
          actionable: Iterable[str] | None = None, command: str = "") -> TriageModel:
    examples = training.examples
    if not examples:
        raise TrainingError("no training examples")
    categories = tuple(config.category_owner)
    actionable_kinds = frozenset(actionable if actionable is not None else config.actionable_kinds)
    rows = _featurize(config, examples)
    documents: Counter[str] = Counter()
    for found in rows:
        documents.update(set(found))
    names = sorted(f for f, n in documents.items() if n >= MIN_DOCUMENTS)
    vocabulary = {name: i for i, name in enumerate(names)}
    idf_by_name = idf_of(documents, len(rows))
    idf = np.array([idf_by_name[name] for name in names])
    # A feature seen in fewer documents than the vocabulary needs is as rare as it gets.
    unknown_idf = float(np.log((1 + len(rows)) / 2) + 1)
    matrix = _matrix(rows, vocabulary, idf, unknown_idf)
    weights = np.array([e.weight for e in examples])

    kind_coef, kind_bias = _fit(matrix, [e.kind for e in examples], weights, KINDS, c)
    with_category = [i for i, e in enumerate(examples) if e.kind in actionable_kinds and e.category]
    if not with_category:
        raise TrainingError("no actionable example carries a category")
    category_coef, category_bias = _fit(matrix[with_category], [examples[i].category for i in with_category],
                                        weights[with_category], categories, c)
    # Every feature stays, even one with tiny weights: its idf is part of every document's length.
    coef = np.hstack([kind_coef, category_coef])
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": config.regency_id,
        "command": command,
        "seed": SEED,
        "c": c,
        "examples": len(examples),
        "features": len(names),
        "sources": training.sources,
        "trainer": _versions(),
    }
    return TriageModel(names, coef.astype(np.float32), np.concatenate([kind_bias, category_bias]).astype(np.float32),
                       KINDS, categories, manifest, idf.astype(np.float32), unknown_idf)


def _versions() -> dict[str, str]:
    import sklearn

    return {"python": sys.version.split()[0], "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def training_set(config: TanggapConfig, archives: Sequence[Path], *, team_posts: Path | None,
                 corpora: Path | None, corpora_description: Path | None, archive_weight: float = 2.0) -> TrainingSet:
    """Everything one training run reads: the deployment's labelled archives (weighted up: they
    are the regency's own people writing), the team's posts, the licensed corpora."""
    training = TrainingSet()
    categories = tuple(config.category_owner)
    for path in archives:
        training.add(read_labelled(path, archive_weight, categories),
                     {"path": path.name, "sha256": _sha256(path), "weight": archive_weight})
    if team_posts is not None:
        for path in sorted(team_posts.glob("*.jsonl")):
            training.add(read_labelled(path, 1.0, categories),
                         {"path": f"team_posts/{path.name}", "sha256": _sha256(path), "weight": 1.0,
                          "licence": "written by the Tanggap team, Apache-2.0"})
    if corpora is not None:
        if corpora_description is None or not corpora_description.exists():
            raise TrainingError(f"--corpora needs a corpora.toml describing the corpora ({corpora_description})")
        corpus_set = read_corpora(corpora_description, corpora)
        training.examples.extend(corpus_set.examples)
        training.sources.extend(corpus_set.sources)
    return training


def folds(count: int, k: int) -> list[list[int]]:
    """Row indices of k folds, dealt round-robin after a seeded shuffle: the same every run."""
    order = np.random.default_rng(SEED).permutation(count)
    return [sorted(order[i::k].tolist()) for i in range(k)]
