{#- The distinct tokens of each image's joined association text, split by the model's own
    tokenizer (written by `python -m generate`); empty until a run has been tokenized. -#}
with source as (
    select * from {{ source_or_empty('raw', 'association_tokens') }}
),

renamed as (
    select
        run_id,
        dataset,
        cast(image_id as integer) as image_id,
        token
    from source
)

select * from renamed
