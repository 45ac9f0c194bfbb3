{#-
  pair_overlaps(token_weights, set_sizes): one row per image pair (image_i < image_j) of each
  corpus, with columns corpus_id, image_i, image_j, n_i, n_j, n_intersection,
  n_multiset_intersection, idf_intersection_q, weight_intersection_q, dot_q.

  `token_weights` has (corpus_id, image_id, token, n_captions, idf_q, cosine_q), one row per
  distinct token of an image (int_token_weights); `set_sizes` has (corpus_id, image_id, n_tokens)
  and lists every image, including those whose set is empty. Corpora are keyed by a small integer:
  joins and the stored table stay narrow.

  One pass: the token self-join emits each shared token of each pair once (Σ df (df − 1) / 2 rows
  per corpus) and one aggregate sums, per pair, the count (|A ∩ B|) and the weighted terms; every
  pair of the corpus (the size self-join) takes them, zeros where it shares nothing. The weighted
  sums need every shared token, frequent ones included, so the set count comes with them at no
  extra join. Weights are integers (fixed point), so the sums are exact in any order.
  Engines may supply their own kernel through adapter.dispatch; every kernel must give the same
  rows. var('portable_sql') forces the portable kernel.
-#}
{% macro pair_overlaps(token_weights, set_sizes) -%}
    {%- if bool_var('portable_sql', false) -%}
        {{ return(default__pair_overlaps(token_weights, set_sizes)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('pair_overlaps', 'semspace')(token_weights, set_sizes)) }}
{%- endmacro %}


{% macro default__pair_overlaps(token_weights, set_sizes) %}
    with shared as (
        select
            a.corpus_id,
            a.image_id as image_i,
            b.image_id as image_j,
            count(*) as n_intersection,
            sum(least(a.n_captions, b.n_captions)) as n_multiset_intersection,
            sum(a.idf_q) as idf_intersection_q,
            sum(least(a.n_captions, b.n_captions) * a.idf_q) as weight_intersection_q,
            sum(a.n_captions * b.n_captions * a.cosine_q) as dot_q
        from {{ token_weights }} as a
        inner join {{ token_weights }} as b
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
        coalesce(shared.n_intersection, 0) as n_intersection,
        coalesce(shared.n_multiset_intersection, 0) as n_multiset_intersection,
        coalesce(shared.idf_intersection_q, 0) as idf_intersection_q,
        coalesce(shared.weight_intersection_q, 0) as weight_intersection_q,
        coalesce(shared.dot_q, 0) as dot_q
    from {{ set_sizes }} as si
    inner join {{ set_sizes }} as sj
        on si.corpus_id = sj.corpus_id
        and si.image_id < sj.image_id
    left join shared
        on shared.corpus_id = si.corpus_id
        and shared.image_i = si.image_id
        and shared.image_j = sj.image_id
{% endmacro %}


