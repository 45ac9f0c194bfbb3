"""The stored half of image_pairs on DuckDB: for every corpus of at most var all_pairs_max_images
images (int_corpus_scale), every pair image_i < image_j with its set sizes, intersection and the
weighted sums over its shared tokens, from the compiled pair scatter (semspace.pairs), written as
Arrow batches. The same rows as the SQL kernel (models/intermediate/int_pair_overlaps.sql, macro
pair_overlaps), which Spark and var large_corpus_kernel=sql build instead."""


def model(dbt, session):
    # no persisted comments: on a 12.5M-row table each COMMENT ON costs like an ALTER; the docs
    # users read are on image_pairs
    dbt.config(materialized="table", persist_docs={"relation": False, "columns": False})
    from semspace import pairs

    return pairs.model_reader(dbt.ref("int_corpus_scale"), dbt.ref("int_token_weights"), dbt.ref("int_pair_set_sizes"))
