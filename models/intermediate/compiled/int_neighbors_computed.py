"""The exact top-k neighbours of every image of every corpus (int_corpus_scale: those that
store all pairs too), under each measure of var neighbor_measures, from the compiled kernel
(semspace.neighbors: a popcount mask of the frequent tokens plus posting lists of the rest),
without storing a pair. The same rows the SQL top-k over image_pairs gives (ties: smaller
neighbor_id). Incremental: a build after images were added recomputes only the lists a change
reaches (the set measures), or, for the IDF-weighted measures, everything when the corpus's
weights changed; `dbt build --full-refresh` recomputes all. DuckDB only (on Spark and with var
large_corpus_kernel=sql, image_neighbors ranks in SQL instead)."""

import ast


def _measures(value):
    if isinstance(value, str):
        text = value.strip()
        value = ast.literal_eval(text) if text.startswith("[") else text.split(",")
    return [str(m).strip() for m in value]


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["corpus", "measure", "image_id"],
    )
    from semspace import neighbors

    # Runs after int_pair_overlaps (and int_pair_statistics after this one): each compiled kernel
    # takes every core, and dbt-duckdb runs Python models in its own process, so two side by side
    # only contend (at COCO, 67 s and 109 s together against 13 s and 9 s one after the other).
    dbt.ref("int_pair_overlaps")
    k = int(dbt.config.get("neighbors_k"))
    measures = _measures(dbt.config.get("neighbor_measures"))
    return neighbors.model_rows(
        session,
        scale=dbt.ref("int_corpus_scale"),
        token_weights=dbt.ref("int_token_weights"),
        set_sizes=dbt.ref("int_pair_set_sizes"),
        k=k,
        measures=measures,
        previous=str(dbt.this) if dbt.is_incremental else None,
    )
