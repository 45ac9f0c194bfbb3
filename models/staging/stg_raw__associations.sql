{#- Every stored round of every caption's association chain; empty until a run has stored one. -#}
with source as (
    select * from {{ source_or_empty('raw', 'associations') }}
),

renamed as (
    select
        run_id,
        dataset,
        cast(image_id as integer) as image_id,
        cast(caption_index as integer) as caption_index,
        cast(round as integer) as association_round,
        output_text,
        cast(n_new_tokens as integer) as n_new_tokens,
        finish_reason,
        created_at
    from source
)

select * from renamed
