"""A small warehouse end to end: two datasets ingested side by side, `dbt build`, MDS into the
computed schema and the marts over it, the file exports (macro export_marts), and re-ingesting one
dataset without touching the other's marts."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

import ingest
from tests import reference
from tests.dbt_helpers import EXPORTABLE_MARTS, SHARED_CAPTIONS, dbt

EXPORTED = EXPORTABLE_MARTS


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    work = tmp_path_factory.mktemp("small")
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:60]
    source = work / "coco_small.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    other = work / "other.csv"
    other.write_text(
        "image,caption\nx.jpg,A cat on a mat.\nx.jpg,The cat sleeps.\ny.jpg,A dog on a mat!\nz.jpg,Nothing but sky\n",
        encoding="utf-8",
    )
    db = work / "small.duckdb"
    ingest.load(source, db, name="coco")
    ingest.load(other, db, name="other")
    dbt(["build"], db, work, vars={"neighbors_k": 3})
    import analysis

    analysis.mds("coco", db, k=3)  # computed.mds_*: the marts are views over them, no rebuild needed
    dbt(["run-operation", "export_marts"], db, work, vars={"neighbors_k": 3})
    return db, work, records


def test_every_corpus_gets_all_pairs(small) -> None:
    db, _, _ = small
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select corpus, n_pairs from pair_summary order by corpus").fetchall()
        corpora = con.execute(
            "select corpus, corpus_id, kind, tokenizer, base_corpus from corpora order by corpus"
        ).fetchall()
    # each dataset's caption corpus and its variants: stop-word-free, lemma, concept (ids by name)
    assert rows == [
        (corpus, n)
        for base, n in (("coco", 60 * 59 // 2), ("other", 3))
        for corpus in (base, f"{base}-concept", f"{base}-lemma", f"{base}-nostop")
    ]
    assert corpora == [
        ("coco", 1, "captions", "karpathy", "coco"),
        ("coco-concept", 2, "captions", "karpathy", "coco"),
        ("coco-lemma", 3, "captions", "karpathy", "coco"),
        ("coco-nostop", 4, "captions", "karpathy", "coco"),
        ("other", 5, "captions", "karpathy", "other"),
        ("other-concept", 6, "captions", "karpathy", "other"),
        ("other-lemma", 7, "captions", "karpathy", "other"),
        ("other-nostop", 8, "captions", "karpathy", "other"),
    ]


def test_small_pairs_match_reference(small) -> None:
    db, _, records = small
    sets = [{t for c in r["caption"] for t in reference.tokenize(c)} for r in records]
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute(
            "select image_i, image_j, n_intersection, symmetric_difference from image_pairs "
            "where corpus = 'coco' order by image_i, image_j"
        ).fetchall()
        other = con.execute(
            "select image_i, image_j, n_intersection, symmetric_difference from image_pairs "
            "where corpus = 'other' order by all"
        ).fetchall()
        other_nostop = con.execute(
            "select image_i, image_j, n_intersection, symmetric_difference from image_pairs "
            "where corpus = 'other-nostop' order by all"
        ).fetchall()
    assert got == [(i, j, len(sets[i] & sets[j]), len(sets[i] ^ sets[j])) for i in range(60) for j in range(i + 1, 60)]
    # x = {a, cat, on, mat, the, sleeps}, y = {a, dog, on, mat}, z = {nothing, but, sky}
    assert other == [(0, 1, 3, 4), (0, 2, 0, 9), (1, 2, 0, 7)]
    # without stop words: x = {cat, mat, sleeps}, y = {dog, mat}, z = {nothing, sky}
    assert other_nostop == [(0, 1, 1, 3), (0, 2, 0, 5), (1, 2, 0, 4)]


def test_token_multisets_match_reference(small) -> None:
    """token_sets.n_captions is how many of the image's captions use the token; set_sizes counts the
    set and the multiset; image_pairs' multiset measures agree with Python counters."""
    from collections import Counter

    db, _, records = small
    counts = [Counter(t for c in r["caption"] for t in set(reference.tokenize(c))) for r in records]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select image_id, token, n_captions from token_sets where corpus = 'coco'").fetchall()
        sizes = con.execute(
            "select image_id, n_tokens, n_occurrences from set_sizes where corpus = 'coco' order by image_id"
        ).fetchall()
        pairs = con.execute(
            "select image_i, image_j, n_multiset_intersection, multiset_symmetric_difference from image_pairs "
            "where corpus = 'coco' order by image_i, image_j"
        ).fetchall()
    assert sorted(rows) == sorted((i, t, n) for i, c in enumerate(counts) for t, n in c.items())
    assert sizes == [(i, len(c), sum(c.values())) for i, c in enumerate(counts)]
    assert any(n > 1 for c in counts for n in c.values())  # a real multiset: some token in several captions
    assert pairs == [
        (i, j, sum((counts[i] & counts[j]).values()), sum(((counts[i] - counts[j]) + (counts[j] - counts[i])).values()))
        for i in range(60)
        for j in range(i + 1, 60)
    ]


def test_neighbours_are_ranked_per_measure(small) -> None:
    """image_neighbors holds, for every image and every measure of var neighbor_measures, the k = 3
    nearest images as that measure of image_pairs ranks them (ties to the smaller id); under the
    note's symmetric difference they are the plain-Python reference's."""
    from semspace.measures import MEASURES

    db, _, records = small
    sets = [{t for c in r["caption"] for t in reference.tokenize(c)} for r in records]
    with duckdb.connect(str(db), read_only=True) as con:
        listed = con.execute(
            "select measure, image_id, list(neighbor_id order by rank), list(value order by rank) "
            "from image_neighbors where corpus = 'coco' group by all"
        ).fetchall()
        measures = sorted({m for m, *_ in listed})
        columns = ", ".join(measures)
        pairs = con.execute(f"select image_i, image_j, {columns} from image_pairs where corpus = 'coco'").fetchall()
        ranks = con.execute("select distinct rank from image_neighbors order by 1").fetchall()
    assert measures == sorted(
        ["symmetric_difference", "multiset_symmetric_difference", "jaccard", "weighted_jaccard", "cosine"]
    )
    assert ranks == [(1,), (2,), (3,)] and len(listed) == 60 * len(measures)
    by_image: dict[str, dict[int, list[tuple[float, int]]]] = {m: {i: [] for i in range(60)} for m in measures}
    for i, j, *values in pairs:
        for m, v in zip(measures, values):
            v = 0.0 if v is None else float(v)
            key = v if not MEASURES[m].larger_is_closer else -v
            by_image[m][i].append((key, j))
            by_image[m][j].append((key, i))
    for m, image, neighbours, values in listed:
        want = sorted(by_image[m][image])[:3]
        assert neighbours == [o for _, o in want], (m, image)
        assert values == pytest.approx([k if not MEASURES[m].larger_is_closer else -k for k, _ in want]), (m, image)
        if m == "symmetric_difference":
            assert list(zip(neighbours, values)) == reference.neighbors(sets, image, 3)


def test_mds_distances_from_the_kernel_are_image_pairs(small) -> None:
    """MDS takes its distances from the exact kernel, not image_pairs: the same matrix to the bit
    (every corpus of both datasets), and the fused centring equals double_centre of it; the
    pair-reading path equals the note's Python sets."""
    from analysis.mds import centred_distances, double_centre, load_distances

    db, work, records = small
    sets = reference.blip_token_sets(work / "coco_small.json")
    with duckdb.connect(str(db), read_only=True) as con:
        corpora = [row[0] for row in con.execute("select corpus from corpora order by corpus").fetchall()]
        for corpus in corpora:
            ids, from_pairs = load_distances(con, corpus, source="pairs")
            kernel_ids, from_kernel = load_distances(con, corpus, source="kernel")
            assert np.array_equal(ids, kernel_ids) and np.array_equal(from_pairs, from_kernel), corpus
            centred_ids, centred = centred_distances(con, corpus)
            expected = double_centre(from_pairs)
            assert np.array_equal(centred_ids, ids)
            assert np.abs(centred - expected).max() <= 1e-12 * max(1.0, np.abs(expected).max()), corpus
            if corpus == "coco":
                size = np.array([len(a) for a in sets])
                notes = size[:, None] + size[None, :] - 2 * reference.intersection_matrix(sets)
                assert np.array_equal(from_pairs, notes)


def test_mds_marts_show_the_computed_rows(small) -> None:
    """mds_spectrum and mds_coordinates (dbt views over computed.*): the axis shares and the wide
    x1 ... x10, equal to the Python result."""
    from analysis.mds import classical_mds, load_distances

    db, _, _ = small
    with duckdb.connect(str(db), read_only=True) as con:
        ids, distances = load_distances(con, "coco")
        spectrum = con.execute(
            "select n_points, n_positive, n_zero, n_nonnegative, axis_share_1, axis_share_2, "
            "axis_share_3, axis_share_4 from mds_spectrum where corpus = 'coco'"
        ).fetchone()
        coordinates = con.execute(
            "select image_id, x1, x2, x3, x4, x10 from mds_coordinates where corpus = 'coco' order by image_id"
        ).fetchall()
        eigen = con.execute("select count(*) from mds_eigenvalues where corpus = 'coco'").fetchone()
    expected = classical_mds(distances, k=3, image_ids=ids, corpus="coco")
    shares = expected.eigenvalues[:3] / expected.sum_positive
    assert spectrum[:4] == (60, expected.n_positive, expected.n_zero, expected.n_positive + expected.n_zero)
    assert spectrum[4:7] == pytest.approx(tuple(shares)) and spectrum[7] is None  # k = 3: no fourth axis
    assert [c[0] for c in coordinates] == list(range(60)) and eigen == (60,)
    assert np.allclose(np.array([c[1:4] for c in coordinates], dtype=float), expected.coordinates)
    assert all(c[4] is None and c[5] is None for c in coordinates)


def test_exports_equal_the_marts(small) -> None:
    db, work, _ = small
    exports = work / "exports"
    with duckdb.connect(str(db), read_only=True) as con:
        for name in EXPORTED:
            table = con.execute(f"select * from {name} order by all").fetchall()
            assert table or name == "evaluation_scores", name
            for fmt, reader in (("parquet", "read_parquet"), ("csv", "read_csv")):
                path = exports / f"{name}.{fmt}"
                assert path.is_file(), path
                exported = con.execute(f"select * from {reader}(?) order by all", [str(path)]).fetchall()
                assert len(exported) == len(table), path
                if fmt == "parquet":
                    assert exported == table, path


def test_reingest_replaces_one_dataset_only(small, tmp_path: Path) -> None:
    db, work, _ = small
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    replacement = tmp_path / "other.csv"
    replacement.write_text("image,caption\nq.jpg,Two red buses.\nr.jpg,Two blue buses.\n", encoding="utf-8")
    ingest.load(replacement, copy, name="other")
    dbt(
        ["build"],
        copy,
        tmp_path,
        vars={"neighbors_k": 3},
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        summary = con.execute(
            "select corpus, n_images, n_captions, n_distinct_tokens from corpus_summary "
            "where corpus in (select corpus from corpora where variant = 'all') order by corpus"
        ).fetchall()
    assert summary[1] == ("other", 2, 2, 4)
    with duckdb.connect(str(db), read_only=True) as con:
        assert (
            con.execute("select n_images, n_captions from corpus_summary where corpus = 'coco'").fetchone()
            == summary[0][1:3]
        )
