"""Event contracts of Tanggap.

The JSON Schema files in `schemas/json/` are the contracts other teams read; the dataclasses
in :mod:`schemas.events` are their Python side. Input validation runs the same JSON Schemas,
compiled once by fastjsonschema, so the documented contract and the enforced one cannot drift.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

SCHEMA_NAMES = ("raw_post", "response", "triage_record", "complaint_event", "breach_event", "dead_letter")

JsonSchemaError = fastjsonschema.JsonSchemaException


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("schemas").joinpath("json", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def validator(name: str) -> Callable[[Any], Any]:
    """A compiled validator that raises :data:`JsonSchemaError` with a readable message."""
    return fastjsonschema.compile(load_schema(name))
