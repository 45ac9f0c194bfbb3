with images as (
    select * from {{ ref('stg_raw__images') }}
),

captions as (
    select * from {{ ref('stg_raw__captions') }}
),

caption_counts as (
    select dataset, image_id, count(*) as n_captions
    from captions
    group by dataset, image_id
),

final as (
    select
        images.dataset,
        images.image_id,
        images.coco_id,
        images.image_key,
        images.file_name,
        images.url,
        cast(coalesce(caption_counts.n_captions, 0) as integer) as n_captions
    from images
    left join caption_counts
        on images.dataset = caption_counts.dataset
        and images.image_id = caption_counts.image_id
)

select * from final
