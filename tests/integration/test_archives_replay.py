"""`tanggap replay` of archives: the good rows reach `posts.raw` under their thread keys, the bad
ones are reported and nothing stops."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
import pytest

from schemas.events import message_key
from streams.kafka import consume
from tests.archives import write_tweet_harvest, write_x_v11
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fmt, write", [("x-v1.1", write_x_v11), ("tweet-harvest", write_tweet_harvest)])
def test_replay_publishes_every_good_row_and_reports_the_bad_ones(deployment_factory, tmp_path, fmt, write):
    deployment = deployment_factory()
    expected = write(tmp_path / f"archive.{fmt}")
    done = subprocess.run([sys.executable, "-m", "streams.cli", "replay", "--format", fmt, str(expected.path)],
                          env=deployment.env, cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    err = done.stderr.decode()
    assert f"{len(expected.good)} posts, {len(expected.bad)} bad rows" in err
    settings = deployment.settings

    async def read():
        return [record async for record in consume(settings, [settings.topic("posts.raw")], idle_timeout=1.0)]

    records = asyncio.run(read())
    assert len(records) == len(expected.good)
    posts = [orjson.loads(record.value) for record in records]
    assert sorted(f"{p['platform']}:{p['post_id']}" for p in posts) == sorted(expected.good)
    assert all(record.key == message_key(orjson.loads(record.value)) for record in records)
