"""benchmarks/synthetic.py: the resampled COCO corpus with a Heaps'-law vocabulary (small sizes only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from benchmarks import synthetic
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(
    not synthetic.DEFAULT_SOURCE.exists(), reason=f"needs the shared COCO split {synthetic.DEFAULT_SOURCE}"
)


def test_deterministic_and_prefix_stable() -> None:
    first = list(synthetic.synthetic_captions(1500, seed=7))
    assert first == list(synthetic.synthetic_captions(1500, seed=7))
    assert list(synthetic.synthetic_captions(600, seed=7)) == first[:600]
    other = list(synthetic.synthetic_captions(1500, seed=8))
    assert other != first
    assert len({name for name, _ in first}) == 1500


def test_captions_are_real_up_to_variants() -> None:
    real = synthetic.real_captions()
    images = list(synthetic.synthetic_captions(2000, seed=1))
    varied = 0
    for name, captions in images:
        coco_id = int(name.rsplit("coco", 1)[1])
        assert [synthetic.strip_variants(c) for c in captions] == real[coco_id]
        mine, theirs = synthetic.token_set(captions), synthetic.token_set(real[coco_id])
        assert len(mine) == len(theirs)  # one variant per word per image: the set size is the real one
        assert {synthetic.strip_variants(t) for t in mine} == theirs
        varied += mine != theirs
    assert varied > 100  # variants do occur
    sizes = [len(synthetic.token_set(c)) for _, c in images]
    assert 25 < sum(sizes) / len(sizes) < 31
    assert 4.9 < sum(len(c) for _, c in images) / len(images) < 5.1


def test_vocabulary_grows_as_the_target() -> None:
    sizes = synthetic.vocabulary_sizes([250, 500, 1000, 2000], seed=0)
    assert sizes[250] < sizes[500] < sizes[1000] < sizes[2000]
    for n, v in sizes.items():
        assert abs(v - synthetic.target_vocabulary(n)) <= 0.05 * v
    # the generator's count is the tokenizer's count of its text
    vocabulary: set[str] = set()
    for _, captions in synthetic.synthetic_captions(1000, seed=0):
        vocabulary |= synthetic.token_set(captions)
    assert len(vocabulary) == sizes[1000]
    assert synthetic.target_vocabulary(5000) == synthetic.REAL_VOCABULARY
    assert synthetic.heaps_target(5000) == pytest.approx(synthetic.REAL_VOCABULARY)


def test_json_layout_reads(tmp_path: Path) -> None:
    """The BLIP-list layout, gzipped, reads as the same images (ingest.read: no warehouse)."""
    import ingest

    out = tmp_path / "synth.json.gz"
    assert synthetic.write(out, 300, seed=2)["images"] == 300
    dataset = ingest.read(out, name="synth")
    assert dataset.format == "blip"
    assert [(i.key, i.captions) for i in dataset.images] == list(synthetic.synthetic_captions(300, seed=2))


def test_file_ingests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m benchmarks.synthetic ... --out X.jsonl`, then `semspace ingest X.jsonl` into a temp warehouse."""
    for var in ("SEMSPACE_CAPTIONS", "SEMSPACE_DB", "SEMSPACE_THREADS", "SEMSPACE_MEMORY_LIMIT", "SEMSPACE_TEMP_DIR"):
        monkeypatch.delenv(var, raising=False)
    n = 2000
    out = tmp_path / "synth.jsonl"
    written = subprocess.run(
        [sys.executable, "-m", "benchmarks.synthetic", "--images", str(n), "--seed", "5", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == n
    assert json.loads(lines[0]).keys() == {"image", "caption"}
    database = tmp_path / "warehouse.duckdb"
    loaded = subprocess.run(
        [sys.executable, "-m", "semspace", "ingest", str(out), "--db", str(database), "--dataset", "synth"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    expected = list(synthetic.synthetic_captions(n, seed=5))
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select n_images, n_captions from raw.datasets where dataset = 'synth'").fetchone() == (
            n,
            sum(len(c) for _, c in expected),
        )
        keys = con.execute("select image_key from raw.images where dataset = 'synth' order by image_id").fetchall()
        assert [k for (k,) in keys] == [name for name, _ in expected]
        stored = con.execute(
            "select image_id, list(caption order by caption_index) from raw.captions where dataset = 'synth' "
            "group by image_id order by image_id"
        ).fetchall()
        assert [c for _, c in stored] == [c for _, c in expected]
        # the project's tokenizer (macros/tokenize.sql), in DuckDB, sees the generator's vocabulary
        (types,) = con.execute(
            "select count(distinct token) from (select unnest(regexp_split_to_array(regexp_replace("
            "lower(caption), '[''/:.&=]', '', 'g'), '[^a-z0-9]+')) as token from raw.captions "
            "where dataset = 'synth') where token <> ''"
        ).fetchone()
    assert types == synthetic.vocabulary_sizes([n], seed=5)[n]
