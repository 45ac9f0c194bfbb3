with corpus_images as (
    select * from {{ ref('int_corpus_images') }}
),

token_sets as (
    select * from {{ ref('token_sets') }}
),

sizes as (
    select corpus, image_id, count(*) as n_tokens
    from token_sets
    group by corpus, image_id
),

final as (
    select
        corpus_images.corpus,
        corpus_images.image_id,
        cast(coalesce(sizes.n_tokens, 0) as integer) as n_tokens
    from corpus_images
    left join sizes
        on corpus_images.corpus = sizes.corpus
        and corpus_images.image_id = sizes.image_id
)

select * from final
