{#- The texts behind each corpus, one row per image: how many texts and characters it has.
    A caption corpus is named after its dataset (`coco` for the default split): its texts are the
    captions. An association corpus is named after its run: its texts are the chains of the
    image's captions, each chain's text being its last round's output (every round's output is
    its input plus the new association, so the last holds the caption and all associations): the
    note's Table 3 characters. Only the images the run has tokenized count (int_corpus_images).
    A variant corpus (`<corpus>-nostop`, `-lemma`, `-concept`) has its base corpus's texts. -#}
with corpora as (
    select * from {{ ref('int_corpora') }}
),

captions as (
    select * from {{ ref('stg_raw__captions') }}
),

associations as (
    select * from {{ ref('stg_raw__associations') }}
),

tokenized_images as (
    select distinct run_id, dataset, image_id
    from {{ ref('stg_raw__association_tokens') }}
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

ranked_rounds as (
    select
        associations.run_id,
        associations.image_id,
        associations.caption_index,
        associations.output_text,
        row_number() over (
            partition by associations.run_id, associations.dataset, associations.image_id, associations.caption_index
            order by associations.association_round desc
        ) as rank_from_last
    from associations
    inner join tokenized_images
        on associations.run_id = tokenized_images.run_id
        and associations.dataset = tokenized_images.dataset
        and associations.image_id = tokenized_images.image_id
),

chain_texts as (
    select run_id, image_id, caption_index, output_text as chain_text
    from ranked_rounds
    where rank_from_last = 1
),

association_documents as (
    select
        run_id as corpus,
        image_id,
        count(*) as n_texts,
        sum(length(chain_text)) as n_chars
    from chain_texts
    group by run_id, image_id
),

base_documents as (
    select * from caption_documents
    union all
    select * from association_documents
),

variant_documents as (
    select
        corpora.corpus,
        base_documents.image_id,
        base_documents.n_texts,
        base_documents.n_chars
    from corpora
    inner join base_documents
        on corpora.base_corpus = base_documents.corpus
    where corpora.variant <> 'all'
),

final as (
    select * from base_documents
    union all
    select * from variant_documents
)

select * from final
