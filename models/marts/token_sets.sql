with corpus_tokens as (
    select * from {{ ref('int_corpus_tokens') }}
),

final as (
    select corpus, image_id, token, n_captions
    from corpus_tokens
)

select * from final
