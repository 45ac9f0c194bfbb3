with source as (
    select * from {{ source('raw', 'captions') }}
),

renamed as (
    select
        dataset,
        cast(image_id as integer) as image_id,
        cast(caption_index as integer) as caption_index,
        caption,
        tokens as source_tokens
    from source
)

select * from renamed
