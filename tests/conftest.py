"""Fixtures shared by the test modules (none is autouse but the per-process dbt folders: each
module opts in), and the grouping `make test`'s parallel processes (pytest-xdist, --dist
loadgroup) follow."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per test file, and one for the end-to-end tests (they share the COCO
    warehouse, a session fixture): with --dist loadgroup a module's or the e2e warehouse is built
    by one process only. Without xdist the marks do nothing."""
    for item in items:
        path = Path(str(item.fspath))
        group = "e2e" if path.parent.name == "e2e" else path.stem
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True, scope="session")
def _dbt_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """dbt started by the code under test (`semspace build`, `semspace run`) writes its target and
    logs into this process's temporary folder, never the checkout's target/ and logs/ that another
    test process (or the user's own dbt) may be using at the same time."""
    folder = tmp_path_factory.mktemp("dbt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_TARGET_PATH", str(folder / "target"))
        mp.setenv("DBT_LOG_PATH", str(folder / "logs"))
        yield


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every socket connection except to loopback addresses and Unix sockets, and put the
    Hugging Face libraries in offline mode, so that no test can reach the real network."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def allowed(sock: socket.socket, address: Any) -> bool:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return True
        host = address[0] if isinstance(address, tuple) else address
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            raise OSError(f"test blocked a network connection to {address!r}")
        return real_connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock, address):
            raise OSError(f"test blocked a network connection to {address!r}")
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
    try:  # the libraries read the variables at import time
        import datasets.config
        import huggingface_hub.constants
    except ImportError:
        return
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)


@pytest.fixture()
def ingest_env(monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    """No warehouse or caption settings from the environment; cwd = the repository root; offline."""
    for var in ("SEMSPACE_CAPTIONS", "SEMSPACE_DB", "SEMSPACE_THREADS", "SEMSPACE_MEMORY_LIMIT", "SEMSPACE_TEMP_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(REPO_ROOT)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    """A fresh warehouse file path (not created yet) for one test."""
    return tmp_path / "warehouse" / "semspace.duckdb"


def _raw_snapshot(database: Path) -> dict[str, Any]:
    """Every table under the raw schema with all its rows, sorted: equal snapshots = same data."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        snapshot: dict[str, Any] = {"tables": tables}
        for table in tables:
            rows = con.execute(f"select * from raw.{table}").fetchall()
            snapshot[table] = sorted(rows, key=repr)
        return snapshot
    finally:
        con.close()


@pytest.fixture()
def raw_snapshot() -> Callable[[Path], dict[str, Any]]:
    """``raw_snapshot(db)``: all rows of all ``raw.*`` tables of the warehouse ``db``."""
    return _raw_snapshot


def _write_blip(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture()
def write_blip() -> Callable[[Path, list[dict[str, Any]]], Path]:
    """``write_blip(path, records)``: write an ALBEF/BLIP caption list and return its path."""
    return _write_blip


def coco_file(coco_id: int, folder: str = "val2014") -> str:
    return f"{folder}/COCO_{folder}_{coco_id:012d}.jpg"


BLIP_A = [
    {"image": coco_file(391895), "caption": ["A man rides a bike.", "A person on a bicycle."]},
    {"image": coco_file(522418), "caption": ["A woman cuts a cake."]},
    {"image": coco_file(184613), "caption": ["A boy holds an umbrella.", "Cows in a field.", "Rain."]},
]
BLIP_B = [
    {"image": "photos/b1.jpg", "caption": ["First caption of b1."]},
    {"image": "photos/b2.jpg", "caption": ["Only caption of b2.", "Second caption of b2."]},
]


@pytest.fixture(scope="session")
def _good_warehouse_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Built once: copying a file is much faster than two ingests per test."""
    import ingest

    folder = tmp_path_factory.mktemp("good_template")
    database = folder / "template.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("SEMSPACE_THREADS", "SEMSPACE_MEMORY_LIMIT", "SEMSPACE_TEMP_DIR"):
            mp.delenv(var, raising=False)
        ingest.load(_write_blip(folder / "alpha.json", BLIP_A), database=database)
        ingest.load(_write_blip(folder / "beta.json", BLIP_B), database=database)
    assert not Path(f"{database}.wal").exists()  # fully checkpointed: the file alone is the warehouse
    snapshot = _raw_snapshot(database)
    assert [row[0] for row in snapshot["datasets"]] == ["alpha", "beta"]
    assert (len(snapshot["images"]), len(snapshot["captions"])) == (5, 9)
    return database, snapshot


@pytest.fixture()
def good_warehouse(warehouse: Path, ingest_env: None, _good_warehouse_template: tuple[Path, dict[str, Any]]) -> Path:
    """A warehouse of its own holding two datasets, ``alpha`` (3 images, 6 captions, from BLIP_A)
    and ``beta`` (2 images, 3 captions, from BLIP_B)."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_good_warehouse_template[0], warehouse)
    return warehouse


@pytest.fixture()
def good_rows(good_warehouse: Path, _good_warehouse_template: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """``raw_snapshot(good_warehouse)`` as the test starts (the copied template's rows)."""
    return _good_warehouse_template[1]
