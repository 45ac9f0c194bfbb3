{#- One row per association run (`python -m generate run`); empty until one has run. -#}
with source as (
    select * from {{ source_or_empty('raw', 'association_runs') }}
),

renamed as (
    select
        run_id,
        dataset,
        model,
        backend,
        cast(rounds as integer) as n_rounds,
        tokenizer,
        tokenization,
        created_at,
        updated_at
    from source
)

select * from renamed
