{#- Every image of every corpus, with the corpus's dataset: a corpus covers all images of its
    dataset, including any whose token set is empty. -#}
with corpora as (
    select * from {{ ref('int_corpora') }}
),

images as (
    select * from {{ ref('stg_raw__images') }}
),

final as (
    select
        corpora.corpus,
        images.dataset,
        images.image_id
    from corpora
    inner join images
        on corpora.dataset = images.dataset
)

select * from final
