"""Classical (Torgerson) MDS of a corpus's symmetric-difference distances.

The note's central observation is that this space is not Euclidean: the double-centred matrix
B = -1/2 J D² J has many negative eigenvalues. So the full spectrum's signature is kept
(`mds_spectrum`, `mds_eigenvalues`), and only the top-k eigenvectors are computed, with a partial
solver, for the coordinates (`mds_coordinates`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from semspace import contract, db, warehouse

if TYPE_CHECKING:
    import pyarrow as pa
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)


@dataclass
class MdsResult:
    corpus: str
    image_ids: np.ndarray
    eigenvalues: np.ndarray  # all n, descending
    coordinates: np.ndarray  # n × k
    tolerance: float
    method: str = "full"  # or "landmark": eigenvalues are then the m landmarks' spectrum
    n_landmarks: int | None = None

    @property
    def n_points(self) -> int:
        return len(self.image_ids)

    @property
    def n_positive(self) -> int:
        return int((self.eigenvalues > self.tolerance).sum())

    @property
    def n_negative(self) -> int:
        return int((self.eigenvalues < -self.tolerance).sum())

    @property
    def n_zero(self) -> int:
        return len(self.eigenvalues) - self.n_positive - self.n_negative

    @property
    def sum_positive(self) -> float:
        return float(self.eigenvalues[self.eigenvalues > self.tolerance].sum())

    @property
    def sum_abs_negative(self) -> float:
        return float(-self.eigenvalues[self.eigenvalues < -self.tolerance].sum())


def load_distances(con: duckdb.DuckDBPyConnection, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, n × n symmetric-difference matrix) of a corpus, from image_pairs in one query."""
    ids = warehouse.image_ids(con, corpus)
    return ids, warehouse.measure_matrix(con, corpus, "symmetric_difference", ids)


def double_centre(distances: np.ndarray) -> np.ndarray:
    """B = -1/2 J D² J with J = I - 11ᵀ/n, without forming J."""
    b = distances**2
    row = b.mean(axis=1)
    b -= row[:, None]
    b -= row[None, :]
    b += row.mean()
    b *= -0.5
    return b


def _two_stage_solver():
    """LAPACKE_dsyevd_2stage from the OpenBLAS that SciPy ships, or None where it is not there.

    Values-only eigensolvers spend nearly all their time reducing the matrix to tridiagonal form;
    LAPACK's two-stage reduction (dense → band → tridiagonal) does it with matrix-matrix kernels
    instead of the one-stage's matrix-vector half, and only exists for eigenvalues alone (JOBZ='N'),
    which is all the spectrum needs. SciPy does not wrap it, so it is called through ctypes."""
    import ctypes
    import glob
    import os

    import scipy

    folder = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*.so*"))):
        if "64_" in os.path.basename(path):  # the ILP64 build takes 64-bit integers: not this signature
            continue
        try:
            function = ctypes.CDLL(path).scipy_LAPACKE_dsyevd_2stage
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.c_int
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_char,
            ctypes.c_char,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
        ]
        return function
    return None


def eigenvalues_only(b: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """All eigenvalues of the symmetric matrix b, descending: LAPACK's two-stage values-only solver
    where SciPy's OpenBLAS has it, else scipy.linalg.eigvalsh. ``overwrite`` lets it destroy b."""
    import scipy.linalg

    n = len(b)
    solver = _two_stage_solver() if n > 1 else None
    if solver is None:
        return scipy.linalg.eigvalsh(b, overwrite_a=overwrite, check_finite=False)[::-1]
    work = (
        b if overwrite and b.flags.c_contiguous and b.dtype == np.float64 else np.array(b, dtype=np.float64, order="C")
    )
    values = np.empty(n)
    info = solver(101, b"N", b"L", n, work.ctypes.data, n, values.ctypes.data)  # 101: row-major
    if info != 0:
        raise SemspaceError(f"the eigenvalue solver failed (LAPACK info {info}) on a {n} × {n} matrix")
    return values[::-1].copy()


def classical_mds(
    distances: np.ndarray, k: int = 10, image_ids: np.ndarray | None = None, corpus: str = ""
) -> MdsResult:
    """All eigenvalues (values only) and the top-k coordinates x_r = v_r √λ_r (partial solver).

    Tolerance for calling an eigenvalue positive, negative or zero: n · eps · max|λ|, the usual
    numerical-rank threshold. B always has the exact eigenvalue 0 of the constant vector (J·1 = 0);
    in floating point it comes out as ±1e-9 or so, and a plain `> 0` counts it by chance (the note's
    1266 on COCO is 1265 positive + that zero). Axes whose eigenvalue is not positive get zero
    coordinates, as in the note."""
    import scipy.linalg
    import scipy.sparse.linalg

    n = len(distances)
    k = min(k, n - 1)
    b = double_centre(distances)
    start = time.perf_counter()
    eigenvalues = eigenvalues_only(b)
    log.info("eigenvalues of %d × %d in %.1f s", n, n, time.perf_counter() - start)
    tolerance = n * np.finfo(float).eps * float(np.abs(eigenvalues).max(initial=0.0))
    start = time.perf_counter()
    if n > 50:
        top_values, top_vectors = scipy.sparse.linalg.eigsh(b, k=k, which="LA")
    else:  # tiny inputs: the dense solver is exact and instant
        values, vectors = scipy.linalg.eigh(b)
        top_values, top_vectors = values[-k:], vectors[:, -k:]
    order = np.argsort(top_values)[::-1]
    top_values, top_vectors = top_values[order], top_vectors[:, order]
    log.info("top %d eigenvectors in %.1f s", k, time.perf_counter() - start)
    # a fixed sign per axis (largest |component| positive), so reruns give the same map
    signs = np.sign(top_vectors[np.abs(top_vectors).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1
    coordinates = top_vectors * signs * np.sqrt(np.clip(top_values, 0, None))
    coordinates[:, top_values <= tolerance] = 0.0
    return MdsResult(
        corpus=corpus,
        image_ids=np.arange(n) if image_ids is None else image_ids,
        eigenvalues=eigenvalues,
        coordinates=coordinates,
        tolerance=tolerance,
    )


def tables(result: MdsResult) -> dict[str, pa.Table]:
    """The rows of computed.mds_spectrum, computed.mds_eigenvalues and computed.mds_coordinates
    (semspace.contract) for one result; the marts of the same names show them (axis shares and
    the wide x1 … xk are computed there)."""
    import pyarrow as pa

    n, k = result.coordinates.shape
    now = _dt.datetime.now()
    spectrum = pa.table(
        {
            "corpus": [result.corpus],
            "n_points": pa.array([result.n_points], pa.int32()),
            "method": [result.method],
            "n_landmarks": pa.array([result.n_landmarks], type=pa.int32()),
            "n_eigenvalues": pa.array([len(result.eigenvalues)], pa.int32()),
            "n_positive": pa.array([result.n_positive], pa.int32()),
            "n_negative": pa.array([result.n_negative], pa.int32()),
            "n_zero": pa.array([result.n_zero], pa.int32()),
            "tolerance": [result.tolerance],
            "sum_positive": [result.sum_positive],
            "sum_abs_negative": [result.sum_abs_negative],
            "computed_at": pa.array([now], pa.timestamp("us")),
        }
    )
    eigen = pa.table(
        {
            "corpus": pa.array([result.corpus] * len(result.eigenvalues)),
            "rank": pa.array(np.arange(1, len(result.eigenvalues) + 1, dtype=np.int32)),
            "eigenvalue": pa.array(result.eigenvalues),
        }
    )
    coords = pa.table(
        {
            "corpus": pa.array([result.corpus] * (n * k)),
            "image_id": pa.array(np.repeat(result.image_ids.astype(np.int32), k)),
            "axis": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), n)),
            "coordinate": pa.array(result.coordinates.reshape(-1)),
        }
    )
    return {"mds_spectrum": spectrum, "mds_eigenvalues": eigen, "mds_coordinates": coords}


def write(con: duckdb.DuckDBPyConnection, result: MdsResult) -> None:
    """Replace the corpus's rows of computed.mds_spectrum, mds_eigenvalues and mds_coordinates in
    one transaction (the marts mds_spectrum, mds_eigenvalues, mds_coordinates are views over them)."""
    new = tables(result)
    contract.ensure(con, [f"{contract.COMPUTED}.{name}" for name in new])
    with db.transaction(
        con,
        {f"new_{name}": table for name, table in new.items()},
        failure=f"writing the MDS of {result.corpus!r} failed, nothing was changed",
    ):
        for name in new:
            con.execute(f"delete from {contract.COMPUTED}.{name} where corpus = ?", [result.corpus])
            con.execute(f"insert into {contract.COMPUTED}.{name} by name select * from new_{name}")
