{#- Distinct tokens of every image of every corpus: the caption corpora, one per dataset. -#}
with caption_tokens as (
    select * from {{ ref('int_captions_tokenized') }}
),

final as (
    select distinct
        dataset as corpus,
        image_id,
        token
    from caption_tokens
)

select * from final
