{#-
  pair_overlaps(token_sets, set_sizes): one row per image pair (image_i < image_j) of each corpus,
  with columns corpus_id, image_i, image_j, n_i, n_j, n_intersection.

  `token_sets` has (corpus_id, image_id, token), distinct; `set_sizes` has (corpus_id, image_id,
  n_tokens) and lists every image, including those whose set is empty. Corpora are keyed by a
  small integer here: joins and the stored table stay narrow.
  Engines supply their own kernel through adapter.dispatch; every kernel must give the same rows.
  var('portable_sql') forces the portable kernel (for cross-checks and benchmarks).
-#}
{% macro pair_overlaps(token_sets, set_sizes) -%}
    {%- if bool_var('portable_sql', false) -%}
        {{ return(default__pair_overlaps(token_sets, set_sizes)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('pair_overlaps', 'semspace')(token_sets, set_sizes)) }}
{%- endmacro %}


{#- Portable reference: every pair from the size cross join, intersections from the token self-join. -#}
{% macro default__pair_overlaps(token_sets, set_sizes) %}
    with shared as (
        select
            a.corpus_id,
            a.image_id as image_i,
            b.image_id as image_j,
            count(*) as n_shared
        from {{ token_sets }} as a
        inner join {{ token_sets }} as b
            on a.corpus_id = b.corpus_id
            and a.token = b.token
            and a.image_id < b.image_id
        group by a.corpus_id, a.image_id, b.image_id
    )

    select
        si.corpus_id,
        si.image_id as image_i,
        sj.image_id as image_j,
        si.n_tokens as n_i,
        sj.n_tokens as n_j,
        coalesce(shared.n_shared, 0) as n_intersection
    from {{ set_sizes }} as si
    inner join {{ set_sizes }} as sj
        on si.corpus_id = sj.corpus_id
        and si.image_id < sj.image_id
    left join shared
        on shared.corpus_id = si.corpus_id
        and shared.image_i = si.image_id
        and shared.image_j = sj.image_id
{% endmacro %}


{#-
  pair_mask_words(token_sets, set_sizes): how many 64-bit mask words the hybrid kernel uses.
  var('pair_mask_tokens') = a number fixes it (rounded up to whole words). 'auto' (the default)
  asks the data at compile time: for 1, 2, 4, ... 32 words, the cross join costs ~ n_pairs × words
  and the rare-token self-join ~ the pairs it emits, Σ df (df − 1) / 2 over the tokens left out of
  the masks; it takes the cheapest. Weights measured on 2 cores (benchmarks/pairs.py): a mask word
  over one pair costs about 1/80 of one emitted rare pair (join + aggregation + lookup).
-#}
{% macro pair_mask_words(token_sets, set_sizes) -%}
    {%- set wanted = var('pair_mask_tokens', 'auto') -%}
    {%- if wanted != 'auto' -%}
        {%- set wanted = int_var('pair_mask_tokens', 'auto', 1) -%}
        {{ return([(wanted + 63) // 64, 1] | max) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(8) }}
    {%- endif -%}
    {%- set candidates = [1, 2, 4, 8, 16, 32] -%}
    {%- set query -%}
        with document_frequency as (
            select corpus_id, token, count(*) as n_images
            from {{ token_sets }}
            group by corpus_id, token
        ),
        ranked as (
            select
                n_images,
                row_number() over (partition by corpus_id order by n_images desc, token) - 1 as token_rank
            from document_frequency
        ),
        pairs as (
            select sum(n_images * (n_images - 1) / 2) as n_pairs
            from (select corpus_id, count(*) as n_images from {{ set_sizes }} group by corpus_id) as per_corpus
        )
        select
            (select n_pairs from pairs) as n_pairs
            {%- for w in candidates %},
            sum(case when token_rank >= {{ 64 * w }} and n_images > 1
                     then n_images * (n_images - 1) / 2 else 0 end) as rare_pairs_{{ w }}
            {%- endfor %}
        from ranked
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set n_pairs = (row[0] or 0) | float -%}
    {%- set ns = namespace(best=candidates[0], cost=none) -%}
    {%- for w in candidates -%}
        {%- set cost = n_pairs * w + 80 * ((row[loop.index] or 0) | float) -%}
        {%- if ns.cost is none or cost < ns.cost -%}
            {%- set ns.best = w -%}
            {%- set ns.cost = cost -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(ns.best) }}
{%- endmacro %}


{#-
  The hybrid of two kernels, summed, shared by the engines that have 64-bit bit operations
  (DuckDB, Spark); only building a mask bit differs (mask_bit, mask_zero).
  * Frequent tokens (the top 64 × pair_mask_words of each corpus by document frequency) become
    bits of a few 64-bit masks per image; the all-pairs cross join counts them with
    bit_count(a & b), a handful of CPU instructions per pair and no per-token rows.
  * Rare tokens (document frequency >= 2 below that rank) go through the sparse self-join,
    which is cheap exactly because they are rare.
  On COCO 5k this is several times faster than the plain self-join (benchmarks/pairs.py).
-#}
{% macro duckdb__pair_overlaps(token_sets, set_sizes) %}
    {{- bitmask_pair_overlaps(token_sets, set_sizes) -}}
{% endmacro %}

{% macro spark__pair_overlaps(token_sets, set_sizes) %}
    {{- bitmask_pair_overlaps(token_sets, set_sizes) -}}
{% endmacro %}


{#-
  mask_bit(position): a 64-bit word with only bit `position` (0..63) set; mask_zero(): no bit set.
  DuckDB: unsigned (1::bigint << 63 overflows there). Spark has no unsigned type: a signed bigint,
  where bit 63 is the sign bit (shiftleft(1L, 63) = -2^63); bit_or, & and bit_count only look at
  the bits, so the counts are the same.
-#}
{% macro mask_bit(position) -%}
    {{ return(adapter.dispatch('mask_bit', 'semspace')(position)) }}
{%- endmacro %}

{% macro duckdb__mask_bit(position) -%}
    (1::ubigint << ({{ position }})::ubigint)
{%- endmacro %}

{% macro spark__mask_bit(position) -%}
    shiftleft(cast(1 as bigint), cast({{ position }} as int))
{%- endmacro %}

{% macro mask_zero() -%}
    {{ return(adapter.dispatch('mask_zero', 'semspace')()) }}
{%- endmacro %}

{% macro duckdb__mask_zero() -%}
    0::ubigint
{%- endmacro %}

{% macro spark__mask_zero() -%}
    cast(0 as bigint)
{%- endmacro %}


{% macro bitmask_pair_overlaps(token_sets, set_sizes) %}
    {%- set n_words = pair_mask_words(token_sets, set_sizes) -%}
    with document_frequency as (
        select corpus_id, token, count(*) as n_images
        from {{ token_sets }}
        group by corpus_id, token
    ),

    token_rank as (
        select
            corpus_id,
            token,
            n_images,
            row_number() over (partition by corpus_id order by n_images desc, token) - 1 as token_rank
        from document_frequency
    ),

    ranked_tokens as (
        select ts.corpus_id, ts.image_id, ts.token, tr.token_rank, tr.n_images
        from {{ token_sets }} as ts
        inner join token_rank as tr
            on ts.corpus_id = tr.corpus_id
            and ts.token = tr.token
    ),

    frequent_masks as (
        select
            corpus_id,
            image_id,
            {%- for w in range(n_words) %}
            bit_or(case when token_rank >= {{ 64 * w }} and token_rank < {{ 64 * (w + 1) }}
                        then {{ mask_bit('token_rank % 64') }}
                        else {{ mask_zero() }} end) as mask_{{ w }}{{ "," if not loop.last }}
            {%- endfor %}
        from ranked_tokens
        where token_rank < {{ 64 * n_words }}
        group by corpus_id, image_id
    ),

    image_masks as (
        select
            sizes.corpus_id,
            sizes.image_id,
            sizes.n_tokens,
            {%- for w in range(n_words) %}
            coalesce(frequent_masks.mask_{{ w }}, {{ mask_zero() }}) as mask_{{ w }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ set_sizes }} as sizes
        left join frequent_masks
            on sizes.corpus_id = frequent_masks.corpus_id
            and sizes.image_id = frequent_masks.image_id
    ),

    rare_tokens as (
        select corpus_id, image_id, token
        from ranked_tokens
        where token_rank >= {{ 64 * n_words }}
            and n_images > 1
    ),

    rare_shared as (
        select a.corpus_id, a.image_id as image_i, b.image_id as image_j, count(*) as n_shared
        from rare_tokens as a
        inner join rare_tokens as b
            on a.corpus_id = b.corpus_id
            and a.token = b.token
            and a.image_id < b.image_id
        group by a.corpus_id, a.image_id, b.image_id
    ),

    all_pairs as (
        select
            a.corpus_id,
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
            on a.corpus_id = b.corpus_id
            and a.image_id < b.image_id
    )

    select
        all_pairs.corpus_id,
        all_pairs.image_i,
        all_pairs.image_j,
        all_pairs.n_i,
        all_pairs.n_j,
        all_pairs.n_frequent + coalesce(rare_shared.n_shared, 0) as n_intersection
    from all_pairs
    left join rare_shared
        on all_pairs.corpus_id = rare_shared.corpus_id
        and all_pairs.image_i = rare_shared.image_i
        and all_pairs.image_j = rare_shared.image_j
{% endmacro %}
