"""pair_summary's figures (ranges of the symmetric difference, intersection and union; the
correlation of the symmetric difference with the intersection) of each corpus above var
all_pairs_max_images (int_corpus_scale), exactly, over all n (n − 1) / 2 pairs, from one pass of
the compiled kernel (semspace.neighbors.pair_statistics) that stores no pair: integer sums, so the
correlation is exact up to its final division. DuckDB only (on Spark and with var
large_corpus_kernel=sql, pair_summary aggregates these corpora's pairs in SQL instead)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from semspace import neighbors

    dbt.ref("int_neighbors_computed")  # one compiled kernel at a time (see int_neighbors_computed)
    return neighbors.statistics_rows(
        dbt.ref("int_corpus_scale"), dbt.ref("int_token_weights"), dbt.ref("int_pair_set_sizes")
    )
