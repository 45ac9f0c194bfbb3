{#-
  The nearest neighbours of one image, with COCO ids, URLs and captions: the note's Table 2
  (var measure: any measure of image_neighbors, default the note's symmetric_difference).
    dbt compile --select neighbors_of_image --vars '{image_id: 100, corpus: coco, measure: cosine}'
  then run target/compiled/semspace/analyses/neighbors_of_image.sql in DuckDB, or in one step:
    dbt show --select neighbors_of_image --limit 20
  (`semspace neighbors 100` prints the same in well under a second.) The corpus is quoted by
  macro sql_string and the image id must be an integer.
-#}
{%- set image_id = int_var('image_id', 100) -%}
{%- set corpus = var('corpus', 'coco') -%}
{%- set measure = choice_list_var('measure', ['symmetric_difference'], neighbor_measure_kinds().keys() | list)[0] -%}

with neighbors as (
    select * from {{ ref('image_neighbors') }}
),

corpora as (
    select * from {{ ref('corpora') }}
),

images as (
    select * from {{ ref('images') }}
),

captions as (
    select * from {{ ref('image_captions') }}
),

caption_lists as (
    select
        dataset,
        image_id,
        {{ ordered_string_agg('caption', "' | '", 'caption_index') }} as captions
    from captions
    group by dataset, image_id
),

query_image as (
    select
        corpora.corpus,
        corpora.dataset,
        0 as rank,
        {{ image_id }} as neighbor_id,
        cast(null as double) as value,
        0 as symmetric_difference
    from corpora
    where corpora.corpus = {{ sql_string(corpus) }}
),

ranked as (
    select * from query_image
    union all
    select
        neighbors.corpus,
        corpora.dataset,
        neighbors.rank,
        neighbors.neighbor_id,
        neighbors.value,
        neighbors.symmetric_difference
    from neighbors
    inner join corpora
        on neighbors.corpus = corpora.corpus
    where neighbors.corpus = {{ sql_string(corpus) }}
        and neighbors.image_id = {{ image_id }}
        and neighbors.measure = {{ sql_string(measure) }}
),

final as (
    select
        ranked.rank,
        ranked.value,
        ranked.symmetric_difference,
        ranked.neighbor_id as image_id,
        images.coco_id,
        images.url,
        caption_lists.captions
    from ranked
    inner join images
        on ranked.dataset = images.dataset
        and ranked.neighbor_id = images.image_id
    left join caption_lists
        on ranked.dataset = caption_lists.dataset
        and ranked.neighbor_id = caption_lists.image_id
)

select * from final
order by rank
