{#- Every corpus the warehouse holds: one token set per image of one dataset under one
    tokenization. Each dataset gives a caption corpus of the same name. -#}
with datasets as (
    select * from {{ ref('stg_raw__datasets') }}
),

captions as (
    select * from {{ ref('stg_raw__captions') }}
),

tokenizers as (
    select
        dataset,
        case
            when count(source_tokens) = count(*) then 'source tokens'
            when count(source_tokens) = 0 then 'karpathy'
            else 'source tokens, else karpathy'
        end as tokenizer
    from captions
    group by dataset
),

final as (
    select
        datasets.dataset as corpus,
        cast(row_number() over (order by datasets.dataset) as integer) as corpus_id,
        'captions' as kind,
        datasets.dataset,
        coalesce(tokenizers.tokenizer, 'karpathy') as tokenizer,
        datasets.source,
        datasets.ingested_at as created_at
    from datasets
    left join tokenizers
        on datasets.dataset = tokenizers.dataset
)

select * from final
