"""Classical MDS on metrics whose answer is known, and its tables."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from analysis.mds import classical_mds, double_centre, write


def test_points_on_a_line_are_recovered() -> None:
    x = np.random.default_rng(0).normal(size=40)
    result = classical_mds(np.abs(x[:, None] - x[None, :]), k=3)
    assert (result.n_positive, result.n_zero, result.n_negative) == (1, 39, 0)
    centred = x - x.mean()
    axis = result.coordinates[:, 0]
    assert np.allclose(axis, centred) or np.allclose(axis, -centred)
    assert np.all(result.coordinates[:, 1:] == 0)  # no positive eigenvalue, no coordinate


def test_points_in_a_plane_keep_their_distances() -> None:
    points = np.random.default_rng(1).normal(size=(60, 2)) * [5, 1]
    distances = squareform(pdist(points))
    result = classical_mds(distances, k=4)
    assert (result.n_positive, result.n_negative) == (2, 0)
    assert np.allclose(squareform(pdist(result.coordinates[:, :2])), distances)
    assert result.eigenvalues[0] / result.sum_positive > 0.9  # the long axis first


def test_symmetric_difference_is_not_euclidean() -> None:
    """The note's point: set distances give negative eigenvalues; the spectrum still sums to trace(B)."""
    rng = np.random.default_rng(2)
    sets = [set(rng.choice(30, size=rng.integers(3, 12), replace=False).tolist()) for _ in range(80)]
    distances = np.array([[len(a ^ b) for b in sets] for a in sets], dtype=float)
    result = classical_mds(distances, k=5)
    assert result.n_negative > 0 and result.n_positive > 0
    assert result.n_zero >= 1  # the constant vector: J·1 = 0
    assert result.eigenvalues.sum() == pytest.approx(np.trace(double_centre(distances)))
    assert result.sum_positive - result.sum_abs_negative == pytest.approx(np.trace(double_centre(distances)))


def test_tables_replace_one_corpus(tmp_path: Path) -> None:
    """MDS writes computed.* only (the marts over them are dbt's: tests/test_small_warehouse.py), one
    corpus's rows replaced per run, with the contract's columns."""
    from semspace import contract

    rng = np.random.default_rng(3)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for corpus, n in (("a", 12), ("b", 9), ("a", 10)):
        points = rng.normal(size=(n, 3))
        result = classical_mds(squareform(pdist(points)), k=4, corpus=corpus)
        write(con, result)
    rows = con.execute(
        "select corpus, count(distinct image_id), count(*) from computed.mds_coordinates "
        "group by corpus order by corpus"
    ).fetchall()
    assert rows == [("a", 10, 40), ("b", 9, 36)]
    spectrum = con.execute(
        "select corpus, n_points, n_positive, n_negative from computed.mds_spectrum order by corpus"
    ).fetchall()
    assert spectrum == [("a", 10, 3, 0), ("b", 9, 3, 0)]
    assert con.execute("select count(*) from computed.mds_eigenvalues where corpus = 'a'").fetchone() == (10,)
    for name in contract.MDS_TABLES:
        columns = [r[0] for r in con.execute(f"describe computed.{name}").fetchall()]
        assert tuple(columns) == contract.table(f"computed.{name}").column_names
    schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
    assert schemas == {"computed"}  # nothing written anywhere else


@pytest.mark.parametrize("two_stage", [True, False])
def test_eigenvalues_only_matches_scipy(two_stage: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values-only solver (LAPACK two-stage through ctypes, or its SciPy fallback) agrees with
    scipy.linalg.eigvalsh, on a symmetric matrix that is not positive definite."""
    import importlib

    import scipy.linalg

    mds = importlib.import_module("analysis.mds")  # the module: `analysis.mds` is also the function

    if two_stage:
        assert mds._two_stage_solver() is not None, (
            "SciPy's OpenBLAS should carry stage 1's BLAS and LAPACK, dsterf and dormqr"
        )
    else:
        monkeypatch.setattr(mds, "_two_stage_solver", lambda: None)
    a = np.random.default_rng(4).normal(size=(257, 257))
    a = a + a.T
    values = mds.eigenvalues_only(a)
    assert np.all(np.diff(values) <= 0)
    assert np.allclose(values, scipy.linalg.eigvalsh(a)[::-1], atol=1e-10)
    assert np.array_equal(a, a.T)  # the input is left alone


@pytest.mark.parametrize("ids", [[0, 1, 2, 3], [3, 7, 10, 12]])
def test_load_distances_places_every_pair(ids: list[int], tmp_path: Path) -> None:
    """Contiguous ids (the usual 0-based positions) and sparse ones fill the same symmetric matrix."""
    from analysis.mds import load_distances

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create table set_sizes (corpus varchar, image_id integer, n_tokens integer, n_occurrences integer)")
    con.execute(
        "create table image_pairs (corpus varchar, image_i integer, image_j integer, symmetric_difference integer)"
    )
    con.executemany("insert into set_sizes values ('c', ?, 1, 1)", [[i] for i in ids])
    expected = np.zeros((4, 4))
    for (a, i), (b, j) in itertools.combinations(enumerate(ids), 2):
        expected[a, b] = expected[b, a] = 10 * a + b
        con.execute("insert into image_pairs values ('c', ?, ?, ?)", [i, j, 10 * a + b])
    got_ids, distances = load_distances(con, "c")
    assert got_ids.tolist() == ids
    assert np.array_equal(distances, expected)


def test_another_k_keeps_the_other_corpora(tmp_path: Path) -> None:
    """Coordinates are stored long (one row per image and axis): a run with another k replaces its
    own corpus's rows and leaves the others as they were."""
    rng = np.random.default_rng(5)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write(con, classical_mds(squareform(pdist(rng.normal(size=(8, 3)))), k=4, corpus="a"))
    write(con, classical_mds(squareform(pdist(rng.normal(size=(6, 3)))), k=2, corpus="b"))
    rows = con.execute(
        "select corpus, count(distinct image_id), max(axis) from computed.mds_coordinates "
        "group by corpus order by corpus"
    ).fetchall()
    assert rows == [("a", 8, 4), ("b", 6, 2)]
    write(con, classical_mds(squareform(pdist(rng.normal(size=(6, 3)))), k=3, corpus="b"))
    rows = con.execute(
        "select corpus, count(distinct image_id), max(axis) from computed.mds_coordinates "
        "group by corpus order by corpus"
    ).fetchall()
    assert rows == [("a", 8, 4), ("b", 6, 3)]


# ------------------------------------------------------------------ the two-stage solver against eigh


def set_distances(n: int, vocabulary: int, seed: int) -> np.ndarray:
    """|A Δ B| of n random token sets: a metric far from Euclidean (negative eigenvalues) whose
    integer distances tie often."""
    rng = np.random.default_rng(seed)
    sets = [set(rng.choice(vocabulary, size=rng.integers(2, 12), replace=False).tolist()) for _ in range(n)]
    return np.array([[len(a ^ b) for b in sets] for a in sets], dtype=float)


def cycle_distances(n: int) -> np.ndarray:
    """Shortest paths around a cycle of n points: B is circulant, so its eigenvalues come in equal
    pairs (cos(2πj/n) = cos(2π(n − j)/n)), and the metric is not Euclidean."""
    steps = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return np.minimum(steps, n - steps).astype(float)


def mds_module():
    import importlib

    return importlib.import_module("analysis.mds")  # the module: `analysis.mds` is also the function


def reference(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """eigh's eigenvalues and vectors, descending, and the positive/zero tolerance n·eps·max|λ|."""
    import scipy.linalg

    values, vectors = scipy.linalg.eigh(b)
    values, vectors = values[::-1], vectors[:, ::-1]
    return values, vectors, len(b) * np.finfo(float).eps * np.abs(values).max()


def assert_same_axis(ours: np.ndarray, theirs: np.ndarray, atol: float = 1e-9) -> None:
    assert np.allclose(ours, theirs, atol=atol) or np.allclose(ours, -theirs, atol=atol)


@pytest.mark.parametrize(("n", "band_width", "seed"), [(150, 4, 6), (150, 16, 7), (200, 128, 8), (60, 128, 9)])
def test_spectrum_matches_eigh_on_set_distances(n: int, band_width: int, seed: int) -> None:
    """All n eigenvalues, the positive count and the top axes of the two-stage path are eigh's:
    narrow and wide bands, and a band as wide as the matrix (n = 60: one reflector)."""
    mds = mds_module()
    b = double_centre(set_distances(n, 30, seed))
    values, vectors, tolerance = reference(b)
    assert (values < -tolerance).sum() > 0  # the case that matters: not Euclidean
    k = 6
    got = mds.spectrum(b, k, threads=1, band_width=band_width)
    assert np.abs(got.eigenvalues - values).max() <= 1e-12 * np.abs(values).max()
    assert (got.eigenvalues > tolerance).sum() == (values > tolerance).sum()
    assert got.vectors.shape == (n, k)
    gaps = -np.diff(values[: k + 1])
    for r in range(k):
        if min(gaps[r], gaps[r - 1] if r else np.inf) > 1e-6 * values[0]:  # a simple eigenvalue
            assert_same_axis(got.vectors[:, r], vectors[:, r])


@pytest.mark.parametrize(
    "n, kd, threads, order",
    [(300, 16, 1, "F"), (300, 16, 2, "C"), (1000, 64, 2, "C"), (1000, 64, 3, "F"), (700, 48, 2, "C"), (130, 64, 2, "F"),
     (65, 64, 2, "C"), (40, 64, 2, "F")],
)  # fmt: skip
def test_stage_one_in_tasks_is_an_orthogonal_similarity(n: int, kd: int, threads: int, order: str) -> None:
    """Stage 1 (_Lapack.reduce_to_band, dsytrd_sy2sb's algorithm in tasks with look-ahead): the
    band matrix and the stored reflectors give back the input, Q·band·Qᵀ = A, and the band has
    A's eigenvalues; whatever the threads, the memory order, a last panel narrower than kd, or a
    band as wide as the matrix. The same band as LAPACK's own dsytrd_sy2sb up to rounding."""
    import ctypes

    from threadpoolctl import threadpool_limits

    mds = mds_module()
    lapack = mds._two_stage_solver()
    assert lapack is not None
    x = np.random.default_rng(n + kd).normal(size=(n, n))
    x = x + x.T
    a = np.array(x, order=order)  # type: ignore[call-overload]
    kd = min(kd, n - 1)
    with threadpool_limits(1, user_api="blas"):
        band, tau = lapack.reduce_to_band(a, kd, threads)
    dense = np.zeros((n, n))
    for d in range(kd + 1):
        i = np.arange(n - d)
        dense[i + d, i] = dense[i, i + d] = band[d, : n - d]
    q = lapack.apply_q(a, tau, kd, np.eye(n))
    assert np.abs(q @ dense @ q.T - x).max() <= 1e-12 * np.abs(x).max()
    assert np.allclose(q.T @ q, np.eye(n), atol=1e-12)
    values = np.linalg.eigvalsh(x)
    assert np.abs(np.linalg.eigvalsh(dense) - values).max() <= 1e-13 * np.abs(values).max()
    theirs, work, info = np.zeros((kd + 1, n), order="F"), np.zeros(1), ctypes.c_int(0)
    y, their_tau = np.array(x, order="F"), np.zeros(n)
    for query in (True, False):
        lapack.library.scipy_dsytrd_sy2sb_(
            b"L", mds._int(n), mds._int(kd), mds._ptr(y), mds._int(n), mds._ptr(theirs), mds._int(kd + 1),
            mds._ptr(their_tau), mds._ptr(work), mds._int(-1 if query else len(work)), ctypes.byref(info), mds._LEN1,
        )  # fmt: skip
        work = np.zeros(max(1, int(work[0]))) if query else work
    assert info.value == 0
    assert np.abs(np.abs(band) - np.abs(theirs)).max() <= 1e-11 * np.abs(x).max()


@pytest.mark.parametrize("m, first, parts", [(5000, 64, 8), (300, 16, 8), (12, 16, 8), (1000, 64, 1), (200, 64, 8)])
def test_the_update_blocks_cover_the_trailing_matrix_once(m: int, first: int, parts: int) -> None:
    mds = mds_module()
    for blocks in (mds._column_blocks(m, first, parts), mds._row_blocks(m, parts)):
        assert blocks[0][0] == 0 and blocks[-1][1] == m
        assert all(b[1] == c[0] and b[0] < b[1] for b, c in zip(blocks, blocks[1:]))
    columns = mds._column_blocks(m, first, parts)
    assert columns[0] == (0, min(first, m))  # the next panel's columns first, alone


@pytest.mark.parametrize("lanczos", ["found", "failed", "missed one"])
def test_spectrum_with_tied_eigenvalues(lanczos: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal eigenvalues: the spectrum is still eigh's, and the top-4 vectors (two whole pairs)
    span eigh's subspace, orthonormal, each an eigenvector; with Lanczos, or with LAPACK's dsbevx
    where Lanczos falls short (forced here: no result, or a copy of a double eigenvalue missed,
    which the check of its Ritz values against the spectrum catches)."""
    mds = mds_module()
    if lanczos == "failed":
        monkeypatch.setattr(mds, "_lanczos_top", lambda band, k: None)
    if lanczos == "missed one":
        found = mds._lanczos_top

        def missed(band: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            values, vectors = found(band, k + 1)
            return np.delete(values, 1), np.delete(vectors, 1, axis=1)  # the pair's second copy

        monkeypatch.setattr(mds, "_lanczos_top", missed)
    b = double_centre(cycle_distances(120))
    values, vectors, tolerance = reference(b)
    assert abs(values[0] - values[1]) < 1e-9 * values[0] and values[3] - values[4] > 1e-3 * values[0]
    assert (values < -tolerance).sum() > 0
    got = mds.spectrum(b, 4, threads=1, band_width=8)
    assert got.vectors_how.startswith("Lanczos" if lanczos == "found" else "dsbevx")
    assert np.abs(got.eigenvalues - values).max() <= 1e-12 * np.abs(values).max()
    assert (got.eigenvalues > tolerance).sum() == (values > tolerance).sum()
    x = got.vectors
    assert np.allclose(x.T @ x, np.eye(4), atol=1e-10)
    assert np.allclose(b @ x, x * got.eigenvalues[:4], atol=1e-9 * values[0])
    assert np.allclose(x @ x.T, vectors[:, :4] @ vectors[:, :4].T, atol=1e-9)


def test_spectrum_without_two_stage_lapack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where SciPy's OpenBLAS lacks the routines: eigvalsh and eigsh, the same answer."""
    mds = mds_module()
    monkeypatch.setattr(mds, "_two_stage_solver", lambda: None)
    b = double_centre(set_distances(90, 25, 10))
    values, vectors, _ = reference(b)
    got = mds.spectrum(b, 2, threads=1)
    assert "no two-stage" in got.values_how
    assert np.allclose(got.eigenvalues, values, atol=1e-10)
    for r in range(2):
        assert_same_axis(got.vectors[:, r], vectors[:, r])


def test_classical_mds_of_a_larger_set_metric_is_eighs() -> None:
    """Above DENSE_MAX_POINTS (the two-stage path): the stored spectrum and the coordinates
    x_r = v_r √λ_r of the top axes are eigh's, each axis up to sign, and the input is untouched."""
    distances = set_distances(130, 30, 11)
    before = distances.copy()
    result = classical_mds(distances, k=3)
    assert np.array_equal(distances, before)
    values, vectors, tolerance = reference(double_centre(distances))
    assert result.tolerance == pytest.approx(tolerance)
    assert np.abs(result.eigenvalues - values).max() <= 1e-12 * np.abs(values).max()
    assert result.n_positive == (values > tolerance).sum()
    for r in range(2):
        assert_same_axis(result.coordinates[:, r], vectors[:, r] * np.sqrt(values[r]))


def test_double_centre_is_the_j_formula() -> None:
    distances = set_distances(70, 20, 12)
    j = np.eye(70) - 1 / 70
    assert np.allclose(double_centre(distances), -0.5 * j @ (distances**2) @ j, atol=1e-10)


# ------------------------------------------------------------------------------------- threads


@pytest.mark.parametrize(
    ("cores", "idle", "threads"),
    [
        (2, 2.0, 2),
        (2, 1.8, 2),
        (2, 1.6, 1),
        (2, 1.0, 1),
        (2, 0.3, 1),
        (2, -3.0, 1),
        (16, 5.8, 6),
        (4, 9.0, 4),
        (1, 1.0, 1),
    ],
)
def test_choose_threads_takes_the_idle_cores(cores: int, idle: float, threads: int) -> None:
    from analysis.mds import choose_threads

    assert choose_threads(cores, idle) == threads


def test_idle_cores_from_cpu_times_or_load(monkeypatch: pytest.MonkeyPatch) -> None:
    mds = mds_module()
    times = iter([(1000, 400), (1200, 450)])  # 50 of 200 ticks idle: a quarter
    monkeypatch.setattr(mds, "_cpu_times", lambda: next(times))
    assert mds.idle_cores(4, sample=0) == pytest.approx(1.0)

    def unreadable() -> tuple[int, int]:
        raise OSError("no /proc/stat")

    monkeypatch.setattr(mds, "_cpu_times", unreadable)
    monkeypatch.setattr(mds.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert mds.idle_cores(4, sample=0) == pytest.approx(1.5)


def test_idle_window_counts_this_process_as_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a window opened before this process's own work, that work's CPU time counts as idle:
    the cores it used are free again when the reduction starts. No sleep once the window is as
    long as the sample."""
    mds = mds_module()
    times = iter([(1000, 400), (1200, 450)])  # 50 of 200 ticks idle
    own = iter([70, 170])  # this process used 100 of the busy 150
    monkeypatch.setattr(mds, "_cpu_times", lambda: next(times))
    monkeypatch.setattr(mds, "_own_ticks", lambda: next(own))
    window = mds.IdleWindow.open()
    assert window is not None
    window.opened -= 1.0  # opened a second ago: longer than the sample
    slept: list[float] = []
    monkeypatch.setattr(mds.time, "sleep", slept.append)
    assert mds.idle_cores(4, sample=0.1, window=window) == pytest.approx(4 * 150 / 200)
    assert slept == [0.0]
    busy = iter([(1000, 400), (1200, 400)])  # no idle tick, but all of them ours (and more, counted
    own = iter([0, 400])  # over several threads): every core is free
    monkeypatch.setattr(mds, "_cpu_times", lambda: next(busy))
    monkeypatch.setattr(mds, "_own_ticks", lambda: next(own))
    assert mds.idle_cores(2, window=mds.IdleWindow.open()) == pytest.approx(2.0)  # capped at all cores


def test_blas_threads_setting_and_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    mds = mds_module()
    monkeypatch.setenv("SEMSPACE_THREADS", "3")
    assert mds.blas_threads() == (3, "SEMSPACE_THREADS")
    monkeypatch.delenv("SEMSPACE_THREADS")
    monkeypatch.setattr(mds, "idle_cores", lambda cores, window=None: 0.2)  # a busy machine
    assert mds.blas_threads()[0] == 1
    monkeypatch.setattr(mds, "idle_cores", lambda cores, window=None: float(cores))  # an idle one
    threads, why = mds.blas_threads()
    assert threads == len(mds.os.sched_getaffinity(0)) and "idle" in why


# ------------------------------------------------------------------------------------- progress


def test_a_progress_line_per_phase(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """centre, eigenvalues (with the thread count), eigenvectors and write each log a line with
    its seconds, under the corpus's name."""
    caplog.set_level(logging.INFO, logger="analysis.mds")
    result = classical_mds(set_distances(80, 20, 13), k=3, corpus="toy", threads=1)
    write(duckdb.connect(str(tmp_path / "w.duckdb")), result)
    lines = [r.getMessage() for r in caplog.records if r.name == "analysis.mds"]
    for phase in ("centred (80 × 80)", "eigenvalues (80)", "eigenvectors (top 3)", "wrote 80 eigenvalues"):
        assert any(line.startswith(f"mds toy: {phase}") and " s" in line for line in lines), (phase, lines)
    assert any("1 thread" in line for line in lines if "eigenvalues (80)" in line)


def test_show_progress_prints_where_nothing_is_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`semspace mds` configures no logging: show_progress gives the lines a stderr handler;
    under basicConfig (`python -m analysis`) it only lowers the level to INFO."""
    mds = mds_module()
    logger = logging.getLogger("analysis.mds")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logging.getLogger("analysis.landmark"), "handlers", [])
    monkeypatch.setattr(logging.getLogger("analysis.landmark"), "level", logging.NOTSET)
    mds.show_progress()
    logger.info("mds x: centred (1 × 1) in 0.0 s")
    assert "mds x: centred (1 × 1) in 0.0 s" in capsys.readouterr().err
    assert logger.level == logging.INFO and len(logger.handlers) == 1
    logger.handlers.clear()
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    mds.show_progress()
    assert logger.handlers == []


def _zipf_index(seed: int, n: int, v: int, exponent: float, most: int):
    """(CorpusIndex, dense binary images × tokens) of a seeded Zipf corpus with repeated sets
    (exact ties) and empty ones."""
    from semspace import neighbors

    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, v + 1) ** exponent
    p /= p.sum()
    sets: list[np.ndarray] = []
    for i in range(n):
        if i % 37 == 5:
            sets.append(sets[i - 2])
            continue
        size = int(rng.integers(0, most)) if i % 41 else 0
        sets.append(np.unique(rng.choice(v, size, p=p)))
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(s) for s in sets])
    tokens = np.concatenate(sets).astype(np.int64)
    ones = np.ones(len(tokens), dtype=np.int64)
    weights = np.ones(v, dtype=np.int64)
    index = neighbors.build_index(np.arange(n, dtype=np.int64) * 2 + 1, indptr, tokens, ones, weights, weights)
    dense = np.zeros((n, v), dtype=np.int64)
    for i, s in enumerate(sets):
        dense[i, s] = 1
    return index, dense


@pytest.mark.parametrize(
    ("seed", "n", "v", "exponent", "most"),
    [(0, 300, 120, 1.1, 25), (1, 400, 2000, 0.6, 120), (2, 2, 5, 1.0, 4), (3, 1, 5, 1.0, 4)],
)
def test_centred_distances_from_the_kernel_equal_numpy(seed: int, n: int, v: int, exponent: float, most: int) -> None:
    """The fused kernel's B = −½ J D² J against numpy with J as a matrix, on Zipf corpora with
    ties and empty sets (one or several mask words, single images); exactly symmetric, and its
    MDS has the same spectrum and axes as classical_mds of the distances."""
    from semspace import neighbors

    index, dense = _zipf_index(seed, n, v, exponent, most)
    size = dense.sum(axis=1)
    d = (size[:, None] + size[None, :] - 2 * dense @ dense.T).astype(np.float64)
    j = np.eye(n) - 1.0 / n
    expected = -0.5 * j @ (d * d) @ j
    got = neighbors.centred_squared_distances(index)
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(got - expected).max() <= 1e-12 * scale
    assert np.array_equal(got, got.T)
    np.testing.assert_allclose(got, double_centre(d), rtol=0, atol=1e-12 * scale)
    if n > 2:
        from analysis.mds import classical_mds_centred

        ours, reference = classical_mds_centred(got.copy(), k=3), classical_mds(d, k=3)
        assert (ours.n_positive, ours.n_zero, ours.n_negative) == (
            reference.n_positive,
            reference.n_zero,
            reference.n_negative,
        )
        np.testing.assert_allclose(ours.eigenvalues, reference.eigenvalues, rtol=0, atol=1e-9 * scale)
        for r in range(3):
            a, b = ours.coordinates[:, r], reference.coordinates[:, r]
            assert np.allclose(a, b, atol=1e-7 * np.sqrt(scale)) or np.allclose(a, -b, atol=1e-7 * np.sqrt(scale))


def test_several_mask_words_are_exercised() -> None:
    """The second corpus above has more than one mask word (else the kernel's later words go untested)."""
    index, _ = _zipf_index(1, 400, 2000, 0.6, 120)
    assert index.masks.shape[0] > 1


def test_kernel_columns_same_subset_or_one_clear_error() -> None:
    """The kernel index's images against set_sizes' (warehouse.kernel_columns, shared by the
    evaluation's QueryRows and MDS's centred_distances): the same images need no mapping, a
    subset gets its positions, a missing image is one error naming the corpus and the fix."""
    from semspace.errors import SemspaceError
    from semspace.warehouse import kernel_columns

    index_ids = np.array([2, 5, 9, 11])
    assert kernel_columns("c", index_ids, np.array([2, 5, 9, 11])) is None
    assert kernel_columns("c", index_ids, np.array([5, 11])).tolist() == [1, 3]
    with pytest.raises(SemspaceError, match=r"corpus 'c': the kernel's index lacks images .*semspace build"):
        kernel_columns("c", index_ids, np.array([5, 7]))
    with pytest.raises(SemspaceError, match="lacks images"):
        kernel_columns("c", index_ids, np.array([12]))
