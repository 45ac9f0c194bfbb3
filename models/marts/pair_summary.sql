{#- Range of each pair measure over all pairs of a corpus, and the correlation of the symmetric
    difference with the intersection (the note: -0.201 for COCO, 0.217 for Falcon). Exact for every
    corpus: aggregated over image_pairs where the corpus stores all pairs (int_corpus_scale), else
    from the kernel's one pass over the pairs (int_pair_statistics), or on Spark / with var
    large_corpus_kernel=sql from the pairs computed inline and never stored. -#}
with image_pairs as (
    select * from {{ ref('image_pairs') }}
),

scale as (
    select * from {{ ref('int_corpus_scale') }}
),

{#- every pair of the corpora that store them; on the SQL path also those of larger corpora,
    computed inline -#}
pairs as (
    select * from image_pairs
    {%- if large_corpus_kernel() == 'sql' %}
    union all
    select * from ({{ large_corpus_pairs() }}) as large_pairs
    {%- endif %}
),

stored as (
    select
        corpus,
        count(*) as n_pairs,
        min(symmetric_difference) as min_symmetric_difference,
        max(symmetric_difference) as max_symmetric_difference,
        min(n_intersection) as min_intersection,
        max(n_intersection) as max_intersection,
        min(n_union) as min_union,
        max(n_union) as max_union,
        corr(symmetric_difference, n_intersection) as corr_symmetric_difference_intersection
    from pairs
    group by corpus
),

{% if large_corpus_kernel() == 'compiled' %}
computed as (
    select computed.*
    from {{ ref('int_pair_statistics') }} as computed
    inner join scale
        on computed.corpus = scale.corpus
        and not scale.stores_all_pairs
),

{% endif %}
combined as (
    select * from stored
    {%- if large_corpus_kernel() == 'compiled' %}
    union all
    select * from computed
    {%- endif %}
),

final as (
    select
        corpus,
        cast(n_pairs as bigint) as n_pairs,
        cast(min_symmetric_difference as integer) as min_symmetric_difference,
        cast(max_symmetric_difference as integer) as max_symmetric_difference,
        cast(min_intersection as integer) as min_intersection,
        cast(max_intersection as integer) as max_intersection,
        cast(min_union as integer) as min_union,
        cast(max_union as integer) as max_union,
        cast(corr_symmetric_difference_intersection as double) as corr_symmetric_difference_intersection
    from combined
)

select * from final
