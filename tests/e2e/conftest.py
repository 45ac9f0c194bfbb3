"""One warehouse built from the shared COCO split for all end-to-end tests: ingest + dbt build."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import ingest
from tests.dbt_helpers import SHARED_CAPTIONS, dbt


@pytest.fixture(scope="session")
def coco_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(warehouse file, work dir) after `python -m ingest` and `dbt build` on the shared split.

    `dbt build` runs every model, the dbt data tests and the tokenizer unit test: a failure of any
    of them fails this fixture and every test that uses it."""
    if not SHARED_CAPTIONS.is_file():
        pytest.fail(f"{SHARED_CAPTIONS} is missing: the end-to-end tests need ../shared/data")
    work = tmp_path_factory.mktemp("coco")
    db = work / "warehouse.duckdb"
    ingest.load(SHARED_CAPTIONS, db)
    dbt(["build"], db, work)
    # Render the ad-hoc analyses now: dbt opens the file for writing, tests later read it.
    dbt(["compile", "--select", "neighbors_of_image"], db, work, vars={"image_id": 100, "corpus": "coco"})
    return db, work


@pytest.fixture(scope="session")
def coco_db(coco_build: tuple[Path, Path]) -> Path:
    return coco_build[0]


@pytest.fixture()
def con(coco_db: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(coco_db), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def coco_analysed(coco_build: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the COCO warehouse after `python -m analysis mds --corpus coco` (k = 10): what the
    figures, the report and the map read. A copy, so that the tests of the plain build stay apart."""
    import shutil

    import analysis

    copy = tmp_path_factory.mktemp("analysed") / "warehouse.duckdb"
    shutil.copy(coco_build[0], copy)
    analysis.mds("coco", copy, k=10)
    return copy
