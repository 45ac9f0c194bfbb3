{#- The texts behind each corpus, one row per image: how many texts and characters it has.
    A caption corpus is named after its dataset (`coco` for the default split). -#}
with captions as (
    select * from {{ ref('stg_raw__captions') }}
),

final as (
    select
        dataset as corpus,
        image_id,
        count(*) as n_texts,
        sum(length(caption)) as n_chars
    from captions
    group by dataset, image_id
)

select * from final
