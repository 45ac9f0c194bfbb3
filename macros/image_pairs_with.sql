{#-
  create_image_pairs_with(): (DuckDB) the table macro image_pairs_with(corpus, image_id), stored
  in the warehouse by image_pairs' post-hook: one image against every other image of a corpus,
  with image_pairs' columns and measures (image_i = the given image, image_j every other one),
  computed on demand from the token sets, for any corpus, also those too large to store their
  pairs (int_corpus_scale). Arguments are macro parameters, never SQL text:

      select image_j, symmetric_difference, jaccard, cosine
      from image_pairs_with('coco', 100)
      order by symmetric_difference, image_j
      limit 10;

  One token join of the image's ~30 tokens with the corpus's token rows, then every image's
  sizes: about a second at a million images. The relations are named without the database, so
  the macro works whatever name the file is attached under.
-#}
{% macro create_image_pairs_with() %}
    {%- if target.type != 'duckdb' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set token_weights = ref('int_token_weights').include(database=false) -%}
    {%- set set_sizes = ref('int_pair_set_sizes').include(database=false) -%}
    {%- set corpora = ref('int_corpora').include(database=false) -%}
    {%- set counts -%}
    (
        with chosen as (
            select corpus_id from {{ corpora }} where corpus = corpus_name
        ),

        query_tokens as (
            select tokens.*
            from {{ token_weights }} as tokens
            where tokens.corpus_id = (select corpus_id from chosen)
                and tokens.image_id = image
        ),

        query_size as (
            select n_tokens
            from {{ set_sizes }}
            where corpus_id = (select corpus_id from chosen)
                and image_id = image
        ),

        shared as (
            select
                b.image_id,
                count(*) as n_intersection,
                sum(least(a.n_captions, b.n_captions)) as n_multiset_intersection,
                sum(a.idf_q) as idf_intersection_q,
                sum(least(a.n_captions, b.n_captions) * a.idf_q) as weight_intersection_q,
                sum(a.n_captions * b.n_captions * a.cosine_q) as dot_q
            from query_tokens as a
            inner join {{ token_weights }} as b
                on b.corpus_id = a.corpus_id
                and b.token = a.token
                and b.image_id <> a.image_id
            group by b.image_id
        )

        select
            sizes.corpus_id,
            cast(image as integer) as image_i,
            sizes.image_id as image_j,
            (select n_tokens from query_size) as n_i,
            sizes.n_tokens as n_j,
            coalesce(shared.n_intersection, 0) as n_intersection,
            coalesce(shared.n_multiset_intersection, 0) as n_multiset_intersection,
            coalesce(shared.idf_intersection_q, 0) as idf_intersection_q,
            coalesce(shared.weight_intersection_q, 0) as weight_intersection_q,
            coalesce(shared.dot_q, 0) as dot_q
        from {{ set_sizes }} as sizes
        left join shared
            on sizes.image_id = shared.image_id
        where sizes.corpus_id = (select corpus_id from chosen)
            and sizes.image_id <> image
            and exists (select 1 from query_size)
    ) as pair_counts_with
    {%- endset -%}
    create or replace macro {{ target.schema }}.image_pairs_with(corpus_name, image) as table
    {{ pair_measures(counts, ref('int_image_weights').include(database=false), corpora) }}
{% endmacro %}
