{#- The stored half of image_pairs: for every corpus of at most var all_pairs_max_images images
    (int_corpus_scale), every pair's set sizes, intersection and the weighted sums over
    its shared tokens, nothing derivable. 12.5M rows per corpus for 5000 images: the narrow integer
    layout (no corpus string, no derived columns) keeps the write small; image_pairs adds the
    corpus name, the per-image totals (int_image_weights) and the measures on read. The kernel is
    engine-specific: see macros/pair_overlaps.sql. -#}
{#- No persisted comments here: on a 12.5M-row table each COMMENT ON costs like an ALTER
    (~0.3 s in all); the docs users read are on image_pairs. -#}
{#- On DuckDB with var large_corpus_kernel=compiled (the default) the Python model
    models/intermediate/compiled/int_pair_overlaps.py builds the same rows instead. -#}
{{ config(
    enabled=(target.type != 'duckdb' or large_corpus_kernel() != 'compiled'),
    materialized='table',
    persist_docs={'relation': false, 'columns': false},
) }}

with overlap_counts as (
    {{ scale_pair_overlaps(true) }}
),

final as (
    select
        cast(corpus_id as smallint) as corpus_id,
        cast(image_i as integer) as image_i,
        cast(image_j as integer) as image_j,
        cast(n_i as integer) as n_i,
        cast(n_j as integer) as n_j,
        cast(n_intersection as integer) as n_intersection,
        cast(n_multiset_intersection as integer) as n_multiset_intersection,
        cast(idf_intersection_q as bigint) as idf_intersection_q,
        cast(weight_intersection_q as bigint) as weight_intersection_q,
        cast(dot_q as bigint) as dot_q
    from overlap_counts
)

select * from final
