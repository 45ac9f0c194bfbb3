{#- The texts behind each corpus, one row per image: how many texts and characters it has.
    A caption corpus is named after its dataset (`coco` for the default split): its texts are the
    captions. An association corpus is named after its run: its texts are the captions whose
    chains it holds, its characters those of every stored round's output (the note's Table 3
    counts the characters of each image's joined association text). -#}
with captions as (
    select * from {{ ref('stg_raw__captions') }}
),

associations as (
    select * from {{ ref('stg_raw__associations') }}
),

caption_documents as (
    select
        dataset as corpus,
        image_id,
        count(*) as n_texts,
        sum(length(caption)) as n_chars
    from captions
    group by dataset, image_id
),

association_documents as (
    select
        run_id as corpus,
        image_id,
        count(distinct caption_index) as n_texts,
        sum(length(output_text)) as n_chars
    from associations
    group by run_id, image_id
),

final as (
    select * from caption_documents
    union all
    select * from association_documents
)

select * from final
