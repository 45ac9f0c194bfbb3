{#-
  pair_overlaps(token_sets, set_sizes): one row per image pair (image_i < image_j) of each corpus,
  with columns corpus, image_i, image_j, n_i, n_j, n_intersection.

  `token_sets` has (corpus, image_id, token), distinct; `set_sizes` has (corpus, image_id, n_tokens)
  and lists every image, including those whose set is empty.
  Engines supply their own kernel through adapter.dispatch; every kernel must give the same rows.
-#}
{% macro pair_overlaps(token_sets, set_sizes) -%}
    {%- if var('portable_sql', false) -%}
        {{ return(default__pair_overlaps(token_sets, set_sizes)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('pair_overlaps', 'semspace')(token_sets, set_sizes)) }}
{%- endmacro %}


{#- Portable reference: every pair from the size cross join, intersections from the token self-join. -#}
{% macro default__pair_overlaps(token_sets, set_sizes) %}
    with shared as (
        select
            a.corpus,
            a.image_id as image_i,
            b.image_id as image_j,
            count(*) as n_shared
        from {{ token_sets }} as a
        inner join {{ token_sets }} as b
            on a.corpus = b.corpus
            and a.token = b.token
            and a.image_id < b.image_id
        group by a.corpus, a.image_id, b.image_id
    )

    select
        si.corpus,
        si.image_id as image_i,
        sj.image_id as image_j,
        si.n_tokens as n_i,
        sj.n_tokens as n_j,
        coalesce(shared.n_shared, 0) as n_intersection
    from {{ set_sizes }} as si
    inner join {{ set_sizes }} as sj
        on si.corpus = sj.corpus
        and si.image_id < sj.image_id
    left join shared
        on shared.corpus = si.corpus
        and shared.image_i = si.image_id
        and shared.image_j = sj.image_id
{% endmacro %}


{#-
  DuckDB: a hybrid of two kernels, summed.
  * Frequent tokens (the top `pair_mask_tokens` of each corpus by document frequency) become
    bits of a few 64-bit masks per image; the all-pairs cross join counts them with
    bit_count(a & b), a handful of CPU instructions per pair and no per-token rows.
  * Rare tokens (document frequency >= 2 below that rank) go through the sparse self-join,
    which is cheap exactly because they are rare.
  On COCO 5k this is several times faster than the plain self-join (benchmarks/pairs.py).
-#}
{% macro duckdb__pair_overlaps(token_sets, set_sizes) %}
    {%- set n_words = ((var('pair_mask_tokens') | int) + 63) // 64 -%}
    {%- set n_words = [n_words, 1] | max -%}
    with document_frequency as (
        select corpus, token, count(*) as n_images
        from {{ token_sets }}
        group by corpus, token
    ),

    token_rank as (
        select
            corpus,
            token,
            n_images,
            row_number() over (partition by corpus order by n_images desc, token) - 1 as token_rank
        from document_frequency
    ),

    ranked_tokens as (
        select ts.corpus, ts.image_id, ts.token, tr.token_rank, tr.n_images
        from {{ token_sets }} as ts
        inner join token_rank as tr
            on ts.corpus = tr.corpus
            and ts.token = tr.token
    ),

    frequent_masks as (
        select
            corpus,
            image_id,
            {%- for w in range(n_words) %}
            bit_or(case when token_rank // 64 = {{ w }}
                        then (1::ubigint << (token_rank % 64)::ubigint)
                        else 0::ubigint end) as mask_{{ w }}{{ "," if not loop.last }}
            {%- endfor %}
        from ranked_tokens
        where token_rank < {{ 64 * n_words }}
        group by corpus, image_id
    ),

    image_masks as (
        select
            sizes.corpus,
            sizes.image_id,
            sizes.n_tokens,
            {%- for w in range(n_words) %}
            coalesce(frequent_masks.mask_{{ w }}, 0::ubigint) as mask_{{ w }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ set_sizes }} as sizes
        left join frequent_masks
            on sizes.corpus = frequent_masks.corpus
            and sizes.image_id = frequent_masks.image_id
    ),

    rare_tokens as (
        select corpus, image_id, token
        from ranked_tokens
        where token_rank >= {{ 64 * n_words }}
            and n_images > 1
    ),

    rare_shared as (
        select a.corpus, a.image_id as image_i, b.image_id as image_j, count(*) as n_shared
        from rare_tokens as a
        inner join rare_tokens as b
            on a.corpus = b.corpus
            and a.token = b.token
            and a.image_id < b.image_id
        group by a.corpus, a.image_id, b.image_id
    ),

    all_pairs as (
        select
            a.corpus,
            a.image_id as image_i,
            b.image_id as image_j,
            a.n_tokens as n_i,
            b.n_tokens as n_j,
            (
                {%- for w in range(n_words) %}
                bit_count(a.mask_{{ w }} & b.mask_{{ w }}){{ " +" if not loop.last }}
                {%- endfor %}
            ) as n_frequent
        from image_masks as a
        inner join image_masks as b
            on a.corpus = b.corpus
            and a.image_id < b.image_id
    )

    select
        all_pairs.corpus,
        all_pairs.image_i,
        all_pairs.image_j,
        all_pairs.n_i,
        all_pairs.n_j,
        all_pairs.n_frequent + coalesce(rare_shared.n_shared, 0) as n_intersection
    from all_pairs
    left join rare_shared
        on all_pairs.corpus = rare_shared.corpus
        and all_pairs.image_i = rare_shared.image_i
        and all_pairs.image_j = rare_shared.image_j
{% endmacro %}
