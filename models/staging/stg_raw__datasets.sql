with source as (
    select * from {{ source('raw', 'datasets') }}
),

renamed as (
    select
        dataset,
        source,
        format as source_format,
        cast(n_images as integer) as n_images,
        cast(n_captions as integer) as n_captions,
        cast(ingested_at as timestamp) as ingested_at
    from source
)

select * from renamed
