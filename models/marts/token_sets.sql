with corpus_tokens as (
    select * from {{ ref('int_corpus_tokens') }}
),

final as (
    select corpus, image_id, token
    from corpus_tokens
)

select * from final
