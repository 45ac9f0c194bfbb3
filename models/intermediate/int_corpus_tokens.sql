{#- Distinct tokens of every image of every corpus: the caption corpora (one per dataset, the
    captions tokenized in SQL) and the association corpora (one per run, tokenized by the model's
    own tokenizer in `python -m generate`, as the note did). -#}
with caption_tokens as (
    select * from {{ ref('int_captions_tokenized') }}
),

association_tokens as (
    select * from {{ ref('stg_raw__association_tokens') }}
),

caption_sets as (
    select distinct
        dataset as corpus,
        image_id,
        token
    from caption_tokens
),

association_sets as (
    select distinct
        run_id as corpus,
        image_id,
        token
    from association_tokens
),

final as (
    select * from caption_sets
    union all
    select * from association_sets
)

select * from final
