{#- Per image of every corpus (empty sets too, as zeros), the totals the weighted measures divide by,
    in int_token_weights' exact fixed point: the multiset size Σ n_captions, Σ idf_q (the set's IDF
    mass), Σ n_captions · idf_q (the tf·idf mass) and Σ n_captions² · cosine_q (the squared norm of
    the cosine's weight vector). -#}
{{ config(materialized='table') }}

with set_sizes as (
    select * from {{ ref('int_pair_set_sizes') }}
),

token_weights as (
    select * from {{ ref('int_token_weights') }}
),

totals as (
    select
        corpus_id,
        image_id,
        sum(n_captions) as n_occurrences,
        sum(idf_q) as idf_total_q,
        sum(n_captions * idf_q) as weight_total_q,
        sum(n_captions * n_captions * cosine_q) as cosine_norm2_q
    from token_weights
    group by corpus_id, image_id
),

final as (
    select
        set_sizes.corpus_id,
        set_sizes.image_id,
        cast(coalesce(totals.n_occurrences, 0) as integer) as n_occurrences,
        cast(coalesce(totals.idf_total_q, 0) as bigint) as idf_total_q,
        cast(coalesce(totals.weight_total_q, 0) as bigint) as weight_total_q,
        cast(coalesce(totals.cosine_norm2_q, 0) as bigint) as cosine_norm2_q
    from set_sizes
    left join totals
        on set_sizes.corpus_id = totals.corpus_id
        and set_sizes.image_id = totals.image_id
)

select * from final
