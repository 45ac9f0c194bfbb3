"""The one place Python reads the warehouse: marts by name, a corpus's images, captions, measures
as matrices, one image's neighbours.

Everything here reads the marts dbt builds (schema ``main``), never ``raw``; every value that
reaches SQL is a bound parameter, and the only identifiers interpolated are the mart and column
names of :mod:`semspace.measures` and the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from semspace import measures as measures_
from semspace.errors import SemspaceError

BUILD_HINT = "run `semspace build` (dbt build) first"
NO_PAIRS = (
    "a corpus above the dbt var all_pairs_max_images (default 20,000 images) gets no all-pairs rows, "
    "its image_neighbors come from the exact kernel (semspace.neighbors)."
)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is a table or a view."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchall()  # fetchall, not fetchone: no unfinished result left on the connection
    return bool(found and found[0][0])


def require_marts(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """A :class:`SemspaceError` naming the first mart of ``names`` the warehouse lacks (an ingested
    warehouse that was never built, or built before the mart existed)."""
    for name in names:
        if not table_exists(con, "main", name):
            raise SemspaceError(f"the warehouse has no mart {name!r}: {BUILD_HINT}")


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
    """The rows of a query as dicts."""
    cursor = con.execute(sql, params if isinstance(params, dict) else list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def corpus_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    require_marts(con, "corpora")
    return [r[0] for r in con.execute("select corpus from corpora order by corpus").fetchall()]


def unknown_corpus(con: duckdb.DuckDBPyConnection, name: str) -> SemspaceError:
    known = corpus_names(con)
    return SemspaceError(
        f"no corpus {name!r} in the warehouse; corpora: {', '.join(known) or 'none (' + BUILD_HINT + ')'}"
    )


def corpus(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    """The ``corpora`` row of ``name``; an unknown corpus is one clear error listing the known ones."""
    require_marts(con, "corpora")
    found = rows(con, "select * from corpora where corpus = ?", [name])
    if not found:
        raise unknown_corpus(con, name)
    return found[0]


def corpora(con: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The ``corpora`` rows of ``names`` in that order (default: all, by corpus_id)."""
    require_marts(con, "corpora")
    known = rows(con, "select * from corpora order by corpus_id, corpus")
    if names is None:
        return known
    by_name = {row["corpus"]: row for row in known}
    missing = [c for c in names if c not in by_name]
    if missing:
        raise SemspaceError(
            f"no corpus {', '.join(map(repr, missing))} in the warehouse; corpora: "
            f"{', '.join(by_name) or 'none (' + BUILD_HINT + ')'}"
        )
    return [by_name[c] for c in dict.fromkeys(names)]


def image_ids(con: duckdb.DuckDBPyConnection, name: str) -> np.ndarray:
    """The image ids of corpus ``name``, ascending (from set_sizes: every image, empty sets too)."""
    require_marts(con, "set_sizes")
    ids = con.execute("select image_id from set_sizes where corpus = ? order by image_id", [name]).fetchnumpy()
    found = np.asarray(ids["image_id"], dtype=np.int64)
    if len(found) == 0:
        corpus(con, name)  # raises for an unknown corpus
    return found


def has_image(con: duckdb.DuckDBPyConnection, name: str, image_id: int) -> bool:
    found = con.execute("select count(*) from set_sizes where corpus = ? and image_id = ?", [name, image_id]).fetchall()
    return bool(found and found[0][0])


def captions(
    con: duckdb.DuckDBPyConnection, dataset: str, ids: Sequence[int] | np.ndarray | None = None
) -> dict[int, list[str]]:
    """image id → its captions in source order (mart image_captions), for ``ids`` or every image."""
    require_marts(con, "image_captions")
    if ids is not None and not len(ids):
        return {}
    sql = (
        "select image_id, list(caption order by caption_index) from image_captions where dataset = ?"
        + ("" if ids is None else " and image_id in (select unnest(?::integer[]))")
        + " group by image_id"
    )
    params: list[Any] = [dataset] if ids is None else [dataset, [int(i) for i in ids]]
    return {int(i): list(c) for i, c in con.execute(sql, params).fetchall()}


def images(con: duckdb.DuckDBPyConnection, dataset: str, ids: Sequence[int] | np.ndarray) -> dict[int, dict[str, Any]]:
    """image id → its ``images`` row, for ``ids``."""
    if not len(ids):
        return {}
    found = rows(
        con,
        "select * from images where dataset = ? and image_id in (select unnest(?::integer[]))",
        [dataset, [int(i) for i in ids]],
    )
    return {int(r["image_id"]): r for r in found}


def symmetric(n: int, cells: np.ndarray, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The symmetric n × n matrix of pair values given once per pair at flat cells i·n + j (i < j);
    cells of pairs not given hold ``fill``, the diagonal 0. One triangle by flat index, then the
    mirror: two passes over n² instead of two scattered writes."""
    matrix = np.zeros((n, n))
    np.put(matrix, cells, np.asarray(values, dtype=np.float64) - fill)
    matrix += matrix.T
    if fill:
        matrix += fill
        np.fill_diagonal(matrix, 0.0)
    return matrix


def scatter(
    ids: np.ndarray, image_i: np.ndarray, image_j: np.ndarray, values: np.ndarray, fill: float = 0.0
) -> np.ndarray:
    """:func:`symmetric` over images ``ids`` (ascending, any ids): pair (image_i, image_j) at the
    positions of its two ids."""
    n = len(ids)
    position = np.full(int(ids.max()) + 1 if n else 1, -1, dtype=np.int64)
    position[ids] = np.arange(n)
    cells = position[np.asarray(image_i, dtype=np.int64)] * n + position[np.asarray(image_j, dtype=np.int64)]
    return symmetric(n, cells, values, fill)


def measure_pairs(con: duckdb.DuckDBPyConnection, name: str, measure: str) -> dict[str, np.ndarray]:
    """image_i, image_j, value arrays of ``measure`` over corpus ``name``'s pairs (rows of its mart)."""
    m = measures_.get(measure)
    require_marts(con, m.relation)
    return con.execute(
        f"select image_i, image_j, {m.column} as value from {m.relation} where corpus = ?", [name]
    ).fetchnumpy()


def measure_matrices(
    con: duckdb.DuckDBPyConnection, name: str, measures: Sequence[str], ids: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """measure → the symmetric n × n matrix of that measure over corpus ``name``'s images (``ids``
    ascending, default all). The measures of one mart are read in one query (one scan of its pairs);
    a mart that must hold every pair and does not is an error."""
    ids = image_ids(con, name) if ids is None else ids
    n = len(ids)
    chosen = [measures_.get(measure) for measure in dict.fromkeys(measures)]
    out: dict[str, np.ndarray] = {}
    for relation in dict.fromkeys(m.relation for m in chosen):
        group = [m for m in chosen if m.relation == relation]
        require_marts(con, relation)
        values = ", ".join(f"{m.column} as v{k}" for k, m in enumerate(group))
        contiguous = bool(n) and ids[0] == 0 and ids[-1] == n - 1
        if contiguous:
            # image ids are 0-based positions (the usual case): DuckDB computes each pair's flat cell
            pairs = con.execute(
                f"select image_i::bigint * ? + image_j as cell, {values} from {relation} where corpus = ?", [n, name]
            ).fetchnumpy()
        else:
            pairs = con.execute(
                f"select image_i, image_j, {values} from {relation} where corpus = ?", [name]
            ).fetchnumpy()
        found = len(pairs["v0"])
        for k, m in enumerate(group):
            if m.absent is None and found == 0 and n > 1:
                raise SemspaceError(
                    f"corpus {name!r} has no rows in {relation}: {NO_PAIRS} Its {n:,} × {n:,} matrices are "
                    "not stored; read query rows instead (semspace.warehouse.QueryRows)"
                )
            if m.absent is None and found != n * (n - 1) // 2:
                raise SemspaceError(
                    f"corpus {name!r}: {relation} has {found} pairs, expected {n * (n - 1) // 2}; {BUILD_HINT}"
                )
            column = np.asarray(pairs[f"v{k}"], dtype=np.float64)
            if contiguous:
                out[m.name] = symmetric(n, pairs["cell"], column, m.absent or 0.0)
            else:
                out[m.name] = scatter(ids, pairs["image_i"], pairs["image_j"], column, fill=m.absent or 0.0)
    return {measure: out[measure] for measure in dict.fromkeys(measures)}


def measure_matrix(
    con: duckdb.DuckDBPyConnection, name: str, measure: str, ids: np.ndarray | None = None
) -> np.ndarray:
    """The symmetric n × n matrix of ``measure`` over corpus ``name``'s images (``ids`` ascending,
    default all), read in one query (:func:`measure_matrices` of one measure)."""
    return measure_matrices(con, name, [measure], ids)[measure]


def has_pairs(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``image_pairs`` holds any pair of corpus ``name``. A corpus above the dbt var
    ``all_pairs_max_images`` holds none (nor does one of a single image); its pair values are
    computed on demand (:class:`QueryRows`). Stops at the first row: cheap on any corpus."""
    require_marts(con, "image_pairs")
    found = con.execute("select exists (select 1 from image_pairs where corpus = ?)", [name]).fetchall()
    return bool(found and found[0][0])


def kernel_columns(name: str, index_ids: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """Where the images ``ids`` sit among the kernel index's ``index_ids`` (both ascending):
    None where they are the same images, else their positions; one clear error where the index
    lacks any of them (a warehouse built before set_sizes changed)."""
    index_ids = np.asarray(index_ids, dtype=np.int64)
    if len(index_ids) == len(ids) and np.array_equal(index_ids, ids):
        return None
    columns = np.searchsorted(index_ids, ids)
    inside = columns < len(index_ids)
    if not inside.all() or not np.array_equal(index_ids[columns], ids):
        raise SemspaceError(f"corpus {name!r}: the kernel's index lacks images of set_sizes; {BUILD_HINT}")
    return columns


class QueryRows:
    """Rows of a corpus's pair measures for some query images: ``rows(query_ids, measure)`` is the
    float64 matrix len(query_ids) × len(ids) of ``measure`` between each query and every image of
    ``ids`` (default: all the corpus's images, ascending), exactly the ``image_pairs`` value of
    that pair; the query's own column and SQL nulls are NaN.

    Where ``image_pairs`` holds the corpus's pairs they are read from it (only the queries' pairs);
    where it holds none (a corpus above the dbt var all_pairs_max_images) they come from the exact
    kernel, :func:`semspace.neighbors.scores_many`, whose index is loaded once, on first use. Memory is
    that of the rows asked for: ask for a chunk of queries at a time."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, name: str, ids: np.ndarray | None = None, pairs: bool | None = None
    ) -> None:
        self.con, self.name = con, name
        self.ids = image_ids(con, name) if ids is None else np.asarray(ids, dtype=np.int64)
        self.from_pairs = has_pairs(con, name) if pairs is None else pairs
        self._index: Any = None
        self._columns: np.ndarray | None = None

    @property
    def source(self) -> str:
        """``image_pairs`` or ``neighbors`` (the exact kernel)."""
        return "image_pairs" if self.from_pairs else "neighbors"

    def _kernel_rows(self, query_ids: np.ndarray, measure: str) -> np.ndarray:
        return self._kernel_rows_many(query_ids, [measure])[measure]

    def _kernel_rows_many(self, query_ids: np.ndarray, measures: Sequence[str]) -> dict[str, np.ndarray]:
        import importlib

        neighbors = importlib.import_module("semspace.neighbors")
        if self._index is None:
            self._index = neighbors.load_index(self.con, self.name)
            self._columns = kernel_columns(self.name, self._index.image_ids, self.ids)
        out = {
            m: np.asarray(rows, dtype=np.float64)
            for m, rows in neighbors.scores_many(self._index, query_ids, measures).items()
        }
        return out if self._columns is None else {m: rows[:, self._columns] for m, rows in out.items()}

    def _pair_rows(self, query_ids: np.ndarray, measure: str) -> np.ndarray:
        m = measures_.get(measure)
        require_marts(self.con, m.relation)
        unique, inverse = np.unique(query_ids, return_inverse=True)
        out = np.full((len(unique), len(self.ids)), np.nan if m.absent is None else m.absent)
        if len(unique) and len(self.ids):
            found = self.con.execute(
                f"select image_i, image_j, {m.column} as value from {m.relation} where corpus = $corpus "
                "and (image_i in (select unnest($q::integer[])) or image_j in (select unnest($q::integer[])))",
                {"corpus": self.name, "q": [int(q) for q in unique]},
            ).fetchnumpy()
            i = np.asarray(found["image_i"], dtype=np.int64)
            j = np.asarray(found["image_j"], dtype=np.int64)
            value = np.ma.filled(np.ma.asarray(found["value"]).astype(np.float64), np.nan)  # SQL null: NaN
            column_i, column_j = np.searchsorted(self.ids, i), np.searchsorted(self.ids, j)
            row_i, row_j = np.searchsorted(unique, i), np.searchsorted(unique, j)
            n_ids = len(self.ids)
            known_i = (column_i < n_ids) & (self.ids[np.minimum(column_i, n_ids - 1)] == i)
            known_j = (column_j < n_ids) & (self.ids[np.minimum(column_j, n_ids - 1)] == j)
            query_i = (row_i < len(unique)) & (unique[np.minimum(row_i, len(unique) - 1)] == i)
            query_j = (row_j < len(unique)) & (unique[np.minimum(row_j, len(unique) - 1)] == j)
            at = query_i & known_j
            out[row_i[at], column_j[at]] = value[at]
            at = query_j & known_i
            out[row_j[at], column_i[at]] = value[at]
        own = np.searchsorted(self.ids, unique)
        mine = (own < len(self.ids)) & (self.ids[np.minimum(own, len(self.ids) - 1)] == unique)
        out[np.flatnonzero(mine), own[mine]] = np.nan
        return out[inverse]

    def rows(self, query_ids: Sequence[int] | np.ndarray, measure: str) -> np.ndarray:
        """len(query_ids) × len(ids) values of ``measure`` (see the class)."""
        measures_.get(measure)  # an unknown measure: one clear error
        query = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        return self._pair_rows(query, measure) if self.from_pairs else self._kernel_rows(query, measure)

    def rows_many(self, query_ids: Sequence[int] | np.ndarray, measures: Sequence[str]) -> dict[str, np.ndarray]:
        """:meth:`rows` of several measures (measure -> matrix); from the kernel, one pass."""
        for measure in measures:
            measures_.get(measure)
        query = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        if self.from_pairs:
            return {m: self._pair_rows(query, m) for m in measures}
        return self._kernel_rows_many(query, list(measures))

    __call__ = rows


@dataclass(frozen=True)
class Neighbour:
    rank: int
    image_id: int
    value: float


def neighbours(
    con: duckdb.DuckDBPyConnection, name: str, image_id: int, measure: str = measures_.DEFAULT, k: int = 10
) -> list[Neighbour]:
    """The ``k`` nearest images of ``image_id`` in corpus ``name`` under ``measure``, ties by the
    smaller image id (as image_neighbors and the evaluation rank). Read from image_neighbors where it
    ranks by ``measure`` and holds k; otherwise only that image's pairs are read."""
    m = measures_.get(measure)
    if not has_image(con, name, image_id):
        corpus(con, name)  # an unknown corpus first
        raise SemspaceError(f"image {image_id} is not in corpus {name!r}")
    if table_exists(con, "main", "image_neighbors"):
        stored = con.execute(
            "select rank, neighbor_id, value from image_neighbors "
            "where corpus = ? and image_id = ? and measure = ? order by rank",
            [name, image_id, measure],
        ).fetchall()
        others = con.execute("select count(*) from set_sizes where corpus = ?", [name]).fetchall()
        if stored and len(stored) >= min(k, int(others[0][0]) - 1 if others else 0):
            return [Neighbour(int(r), int(i), float("nan") if v is None else float(v)) for r, i, v in stored[:k]]
    require_marts(con, m.relation)
    if not has_pairs(con, name):  # a corpus without all-pairs rows: its one row from the exact kernel
        ids = image_ids(con, name)
        row = QueryRows(con, name, ids, pairs=False).rows([image_id], measure)[0]
        scores = {int(i): float(v) for i, v in zip(ids, row) if int(i) != image_id}
    else:
        found = con.execute(
            f"select image_j as other, {m.column} as value from {m.relation} "
            "where corpus = $corpus and image_i = $image "
            f"union all select image_i, {m.column} from {m.relation} where corpus = $corpus and image_j = $image",
            {"corpus": name, "image": image_id},
        ).fetchall()
        scores = {int(i): (float("nan") if v is None else float(v)) for i, v in found}
    if m.absent is not None:  # pairs that are not rows: the measure's value for them
        for other in image_ids(con, name):
            if int(other) != image_id:
                scores.setdefault(int(other), m.absent)
    sign = -1.0 if m.larger_is_closer else 1.0

    def key(item: tuple[int, float]) -> tuple[bool, float, int]:
        value = item[1]
        return (value != value, sign * value if value == value else 0.0, item[0])  # NaN last

    ranked = sorted(scores.items(), key=key)[:k]
    return [Neighbour(rank + 1, i, v) for rank, (i, v) in enumerate(ranked)]
