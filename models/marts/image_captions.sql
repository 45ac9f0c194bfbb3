{#- Every caption of every image, in its source order: what the report, the map, the dense
    baseline and `semspace neighbors` show beside an image. -#}
with captions as (
    select * from {{ ref('stg_raw__captions') }}
),

final as (
    select dataset, image_id, caption_index, caption
    from captions
)

select * from final
