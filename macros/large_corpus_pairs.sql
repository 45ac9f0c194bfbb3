{#-
  scale_pair_overlaps(stores_all_pairs): the pair kernel (macro pair_overlaps) over the corpora of
  int_corpus_scale that store all their pairs (true: int_pair_overlaps) or that do not (false: the
  SQL path of the larger ones, computed inline). int_pair_overlaps' columns before its casts.
-#}
{% macro scale_pair_overlaps(stores_all_pairs) %}
    with chosen_corpora as (
        select corpus_id from {{ ref('int_corpus_scale') }}
        where {{ '' if stores_all_pairs else 'not ' }}stores_all_pairs
    ),

    token_weights as (
        select * from {{ ref('int_token_weights') }}
        where corpus_id in (select corpus_id from chosen_corpora)
    ),

    set_sizes as (
        select * from {{ ref('int_pair_set_sizes') }}
        where corpus_id in (select corpus_id from chosen_corpora)
    ),

    overlap_counts as (
        {{ pair_overlaps('token_weights', 'set_sizes') }}
    )

    select * from overlap_counts
{% endmacro %}


{#-
  large_corpus_pairs(): image_pairs' rows (pair_measures) of every corpus above var
  all_pairs_max_images, computed inline by the pair kernel and never stored: the SQL path of
  image_neighbors and pair_summary for those corpora on Spark and with var
  large_corpus_kernel=sql (the compiled kernel's cross-check). Its cost is the all-pairs
  kernel's: meant for sizes where that runs.
-#}
{% macro large_corpus_pairs() %}
    {%- set overlaps -%}
    (
        {{ scale_pair_overlaps(false) }}
    ) as large_pair_counts
    {%- endset -%}
    {{ pair_measures(overlaps, ref('int_image_weights'), ref('int_corpora')) }}
{% endmacro %}
