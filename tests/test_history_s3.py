"""History on an object store for real: an S3-compatible server (moto's server mode) on
127.0.0.1, started here, reached through the public API with an ``s3://`` URI.

The server is a real HTTP endpoint: pyarrow's S3 file system writes and reads the store
over it, and each load's ``loads`` row is created with a conditional PUT
(``If-None-Match: *``), which the server refuses (412) when the key exists.
"""

from __future__ import annotations

import pickle
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from intrace_analytics import History, IncidentFrames
from tests.test_history import DAY, T0, at, drop_incidents
from tests.test_history_crash import LOADS, assert_committed_loads_whole, variants, writer

BUCKET = "intrace-history"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, str]]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {
        "endpoint_override": f"127.0.0.1:{port}",
        "scheme": "http",
        "access_key": "testing",
        "secret_key": "testing-secret",
        "region": "us-east-1",
    }
    pafs.S3FileSystem(**options, allow_bucket_creation=True).create_dir(BUCKET)
    try:
        yield options
    finally:
        server.stop()


@pytest.fixture
def uri() -> str:
    """A fresh prefix in the bucket for each test."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex}"


def test_append_as_of_and_changes_on_s3_match_a_local_store(
    tmp_path: Path, s3_options: dict[str, str], uri: str, sandbox_frames: IncidentFrames
) -> None:
    remote = History(uri, storage_options=s3_options)
    local = History(tmp_path / "local")
    first = at(sandbox_frames, T0)
    nxt = at(sandbox_frames, T0 + DAY)
    incident = str(nxt.incidents.loc[nxt.incidents["status"] == "open", "incident_id"].iloc[0])
    nxt.incidents.loc[nxt.incidents["incident_id"] == incident, "status"] = "resolved"
    drop_incidents(nxt, [str(nxt.incidents["incident_id"].iloc[-1])])
    for frames in (first, nxt):
        assert remote.append(frames)["load_seq"] == local.append(frames)["load_seq"]
    pd.testing.assert_frame_equal(
        remote.loads.drop(columns=["load_id", "previous_load_id"]),
        local.loads.drop(columns=["load_id", "previous_load_id"]),
    )
    for moment in (T0, T0 + DAY):
        seen, expected = remote.as_of(moment), local.as_of(moment)
        for name in ("incidents", "links", "threats"):
            pd.testing.assert_frame_equal(getattr(seen, name), getattr(expected, name))
    for table in ("incidents", "links", "threats"):
        pd.testing.assert_frame_equal(remote.changes(table=table), local.changes(table=table))
    changes = remote.changes()
    assert changes.loc[changes["incident_id"] == incident, "change"].tolist() == ["resolved"]
    pd.testing.assert_frame_equal(remote.trend().drop(columns="load_id"),
                                  local.trend().drop(columns="load_id"))  # fmt: skip
    # The same export again is a no-op there too.
    assert remote.append(at(nxt, T0 + DAY))["load_seq"] == 2
    assert len(remote.loads) == 2


def test_the_conditional_put_creates_only_what_is_absent(
    s3_options: dict[str, str], uri: str
) -> None:
    # The primitive the chain rests on, against the server: no public name does only this.
    from intrace_analytics.history._s3put import put_if_absent

    fs = pafs.S3FileSystem(**s3_options)
    key = f"{uri.removeprefix('s3://')}/loads/load-000001.parquet"
    assert put_if_absent(fs, key, b"first") is True
    assert put_if_absent(fs, key, b"second") is False
    with fs.open_input_stream(key) as stream:
        assert stream.read() == b"first"


def test_a_store_on_s3_refuses_an_anonymous_writer(
    s3_options: dict[str, str], uri: str, sandbox_frames: IncidentFrames
) -> None:
    anonymous = {k: v for k, v in s3_options.items() if "key" not in k} | {"anonymous": True}
    with pytest.raises(ValueError, match="needs credentials"):
        History(uri, storage_options=anonymous).append(at(sandbox_frames, T0))


def test_two_writer_processes_on_s3_never_fork_the_chain(
    tmp_path: Path, s3_options: dict[str, str], uri: str, sandbox_frames: IncidentFrames
) -> None:
    loads = variants(sandbox_frames)
    pickled = tmp_path / "loads.pickle"
    pickled.write_bytes(pickle.dumps(loads))
    children = [writer(pickled, uri, s3_options), writer(pickled, uri, s3_options)]
    for child in children:
        _out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
    history = History(uri, storage_options=s3_options)
    assert assert_committed_loads_whole(history, loads) == LOADS
    # Nothing a losing writer wrote is left beside the committed loads.
    fs = pafs.S3FileSystem(**s3_options)
    selector = pafs.FileSelector(f"{uri.removeprefix('s3://')}/incidents", recursive=False)
    partitions = {info.base_name for info in fs.get_file_info(selector)}
    committed = {f"load_id={load_id}" for load_id in history.loads["load_id"]}
    assert partitions == committed
