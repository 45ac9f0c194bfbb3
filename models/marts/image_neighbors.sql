{#- The k nearest images of every image (k = var neighbors_k) of every corpus under each measure of
    var neighbor_measures (default: the note's symmetric_difference, multiset_symmetric_difference,
    jaccard, weighted_jaccard and cosine); ties go to the smaller neighbor_id. An image is not its
    own neighbour. On DuckDB every corpus takes the compiled kernel's exact lists
    (int_neighbors_computed), whether or not it stores its pairs; on Spark / with var
    large_corpus_kernel=sql, the engine's top-k (macros/nearest_neighbors.sql) ranks image_pairs
    where the corpus stores all pairs (int_corpus_scale) and the same pairs computed inline for
    larger corpora. Both give the same rows. -#}
{%- set k = int_var('neighbors_k', 10, 1) %}
{%- set measures = neighbor_measures() %}

with scale as (
    select * from {{ ref('int_corpus_scale') }}
),

{% if large_corpus_kernel() == 'compiled' %}
{#- the kernel's table is incremental: keep the rows of this build's corpora, images, k and
    measures (a shrunk corpus or a changed var leaves rows the next lists do not overwrite) -#}
nearest as (
    select
        computed.corpus,
        computed.measure,
        computed.image_id,
        computed.rank as neighbor_rank,
        computed.neighbor_id,
        computed.value,
        computed.symmetric_difference,
        computed.n_intersection,
        computed.jaccard
    from {{ ref('int_neighbors_computed') }} as computed
    inner join scale
        on computed.corpus = scale.corpus
    inner join {{ ref('int_pair_set_sizes') }} as images
        on scale.corpus_id = images.corpus_id
        and computed.image_id = images.image_id
    where computed.k = {{ k }}
        and computed.measure in ({% for m in measures %}'{{ m }}'{{ ", " if not loop.last }}{% endfor %})
),
{% else %}
all_pairs_nearest as (
    {{ nearest_neighbors(ref('image_pairs'), k, measures) }}
),

large_pairs as (
    {{ large_corpus_pairs() }}
),

large_nearest as (
    {{ nearest_neighbors('large_pairs', k, measures) }}
),

nearest as (
    select * from all_pairs_nearest
    union all
    select * from large_nearest
),
{% endif %}

final as (
    select
        corpus,
        measure,
        cast(image_id as integer) as image_id,
        cast(neighbor_rank as integer) as rank,
        cast(neighbor_id as integer) as neighbor_id,
        cast(value as double) as value,
        cast(symmetric_difference as integer) as symmetric_difference,
        cast(n_intersection as integer) as n_intersection,
        cast(jaccard as double) as jaccard
    from nearest
)

select * from final
