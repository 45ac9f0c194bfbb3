{#- One row per token occurrence of every caption: the source's own tokens where it has them
    (Karpathy dataset_coco.json), else Karpathy's tokenization of the raw caption. -#}
with captions as (
    select * from {{ ref('stg_raw__captions') }}
),

split as (
    select
        dataset,
        image_id,
        caption_index,
        {{ unnest_array('coalesce(source_tokens, ' ~ karpathy_tokens('caption') ~ ')') }} as token
    from captions
),

final as (
    select dataset, image_id, caption_index, token
    from split
    where token <> ''
)

select * from final
