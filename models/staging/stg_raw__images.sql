with source as (
    select * from {{ source('raw', 'images') }}
),

renamed as (
    select
        dataset,
        cast(image_id as integer) as image_id,
        image_key,
        cast(coco_id as bigint) as coco_id,
        file_name,
        url
    from source
)

select * from renamed
