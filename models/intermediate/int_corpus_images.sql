{#- Every image of every corpus, with the corpus's dataset. A caption corpus covers all images
    of its dataset, including any whose token set is empty; an association corpus covers the
    images its run has tokenized: those whose every caption has a complete chain (a run may cover
    a subset, `--limit` / `--images`, and a stopped run's partial chains are left out). A variant
    corpus (`<corpus>-nostop`, `-lemma`, `-concept`) covers the images of its base corpus. -#}
with corpora as (
    select * from {{ ref('int_corpora') }}
),

images as (
    select * from {{ ref('stg_raw__images') }}
),

associated_images as (
    select distinct run_id, dataset, image_id
    from {{ ref('stg_raw__association_tokens') }}
),

caption_corpus_images as (
    select
        corpora.corpus,
        images.dataset,
        images.image_id
    from corpora
    inner join images
        on corpora.dataset = images.dataset
    where corpora.kind = 'captions'
        and corpora.variant = 'all'
),

association_corpus_images as (
    select
        corpora.corpus,
        images.dataset,
        images.image_id
    from corpora
    inner join associated_images
        on corpora.corpus = associated_images.run_id
        and corpora.dataset = associated_images.dataset
    inner join images
        on associated_images.dataset = images.dataset
        and associated_images.image_id = images.image_id
    where corpora.kind = 'associations'
        and corpora.variant = 'all'
),

base_corpus_images as (
    select * from caption_corpus_images
    union all
    select * from association_corpus_images
),

variant_corpus_images as (
    select
        corpora.corpus,
        base_corpus_images.dataset,
        base_corpus_images.image_id
    from corpora
    inner join base_corpus_images
        on corpora.base_corpus = base_corpus_images.corpus
    where corpora.variant <> 'all'
),

final as (
    select * from base_corpus_images
    union all
    select * from variant_corpus_images
)

select * from final
