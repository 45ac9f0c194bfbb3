with corpora as (
    select * from {{ ref('int_corpora') }}
),

final as (
    select corpus, corpus_id, kind, dataset, tokenizer, source, created_at, base_corpus, variant
    from corpora
)

select * from final
