{#- Every (image, token) of every corpus keyed by the integer corpus_id, with its multiplicity
    n_captions and the token's weights in fixed point (integers, 2^-24 units), so that every sum
    over tokens is exact and the same on every engine and in every order (ties in the weighted
    measures stay ties):
    * idf_q = round(idf · 2^24), idf = ln(N / df) from token_weights;
    * cosine_q = round(idf^(2α) · 2^24), α = var cosine_idf_exponent: the cosine's weight of a
      token is n_captions · idf^α, so a product of two weights is n_a · n_b · idf^(2α).
    The input of the pair kernel (int_pair_overlaps) and of int_image_weights. -#}
{{ config(materialized='table') }}

{%- set alpha = float_var('cosine_idf_exponent', 0.25, 0) %}

with corpus_tokens as (
    select * from {{ ref('int_corpus_tokens') }}
),

token_weights as (
    select * from {{ ref('token_weights') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

final as (
    select
        corpora.corpus_id,
        corpus_tokens.image_id,
        corpus_tokens.token,
        corpus_tokens.n_captions,
        cast(round(token_weights.idf * 16777216) as bigint) as idf_q,
        cast(round(power(token_weights.idf, {{ 2 * alpha }}) * 16777216) as bigint) as cosine_q
    from corpus_tokens
    inner join token_weights
        on corpus_tokens.corpus = token_weights.corpus
        and corpus_tokens.token = token_weights.token
    inner join corpora
        on corpus_tokens.corpus = corpora.corpus
)

select * from final
