with corpora as (
    select * from {{ ref('int_corpora') }}
),

final as (
    select corpus, corpus_id, kind, dataset, tokenizer, source, created_at
    from corpora
)

select * from final
