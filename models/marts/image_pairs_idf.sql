{#- IDF-weighted Jaccard of every pair of images that shares a token of positive weight:
    Σ_{A∩B} idf / Σ_{A∪B} idf, with idf from token_weights. Pairs that share no such token are not
    rows (their value is 0). A view: computed when read; filter on corpus (and image_i or image_j)
    and only those pairs are computed. -#}
{{ config(materialized='view') }}

with corpus_tokens as (
    select * from {{ ref('int_corpus_tokens') }}
),

token_weights as (
    select * from {{ ref('token_weights') }}
),

weighted as (
    select corpus_tokens.corpus, corpus_tokens.image_id, corpus_tokens.token, token_weights.idf
    from corpus_tokens
    inner join token_weights
        on corpus_tokens.corpus = token_weights.corpus
        and corpus_tokens.token = token_weights.token
    where token_weights.idf > 0
),

totals as (
    select corpus, image_id, sum(idf) as total
    from weighted
    group by corpus, image_id
),

shared as (
    select
        a.corpus,
        a.image_id as image_i,
        b.image_id as image_j,
        sum(a.idf) as idf_intersection
    from weighted as a
    inner join weighted as b
        on a.corpus = b.corpus
        and a.token = b.token
        and a.image_id < b.image_id
    group by a.corpus, a.image_id, b.image_id
),

final as (
    select
        shared.corpus,
        shared.image_i,
        shared.image_j,
        shared.idf_intersection,
        ti.total + tj.total - shared.idf_intersection as idf_union,
        case
            when ti.total + tj.total - shared.idf_intersection > 0
                then shared.idf_intersection / (ti.total + tj.total - shared.idf_intersection)
            else cast(0 as double)
        end as idf_jaccard
    from shared
    inner join totals as ti
        on shared.corpus = ti.corpus
        and shared.image_i = ti.image_id
    inner join totals as tj
        on shared.corpus = tj.corpus
        and shared.image_j = tj.image_id
)

select * from final
