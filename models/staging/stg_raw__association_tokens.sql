{#- The distinct tokens of each image's joined association text, split by the model's own
    tokenizer (written by `python -m generate`), with how many of the image's chains hold each;
    empty until a run has been tokenized. Rows written before n_chains existed count 1. -#}
with source as (
    select * from {{ source_or_empty('raw', 'association_tokens') }}
),

renamed as (
    select
        run_id,
        dataset,
        cast(image_id as integer) as image_id,
        token,
        cast(coalesce(n_chains, 1) as integer) as n_chains
    from source
)

select * from renamed
