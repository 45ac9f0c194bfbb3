{#- Every corpus's size and which pair path it takes: corpora of at most var all_pairs_max_images
    images store every pair (int_pair_overlaps, image_pairs); larger ones (n (n − 1) / 2 rows
    would be billions) get their neighbours and pair statistics from the exact kernel without
    storing a pair (int_neighbors_computed, int_pair_statistics) and their ad-hoc pairs from the
    table macro image_pairs_with. -#}
{{ config(materialized='table') }}

with set_sizes as (
    select * from {{ ref('int_pair_set_sizes') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

sizes as (
    select corpus_id, count(*) as n_images
    from set_sizes
    group by corpus_id
),

final as (
    select
        corpora.corpus_id,
        corpora.corpus,
        cast(coalesce(sizes.n_images, 0) as bigint) as n_images,
        cast(coalesce(sizes.n_images, 0) * (coalesce(sizes.n_images, 0) - 1) / 2 as bigint) as n_pairs,
        coalesce(sizes.n_images, 0) <= {{ all_pairs_max_images() }} as stores_all_pairs
    from corpora
    left join sizes
        on corpora.corpus_id = sizes.corpus_id
)

select * from final
