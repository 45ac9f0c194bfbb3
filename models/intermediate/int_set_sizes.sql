{#- |A| of every image of every corpus: its number of distinct tokens, 0 for an image of the corpus
    whose set is empty (a caption with no token); and its multiset size Σ n_captions. Read by the set_sizes mart and the pair kernel. -#}
with corpus_images as (
    select * from {{ ref('int_corpus_images') }}
),

corpus_tokens as (
    select * from {{ ref('int_corpus_tokens') }}
),

sizes as (
    select corpus, image_id, count(*) as n_tokens, sum(n_captions) as n_occurrences
    from corpus_tokens
    group by corpus, image_id
),

final as (
    select
        corpus_images.corpus,
        corpus_images.image_id,
        cast(coalesce(sizes.n_tokens, 0) as integer) as n_tokens,
        cast(coalesce(sizes.n_occurrences, 0) as integer) as n_occurrences
    from corpus_images
    left join sizes
        on corpus_images.corpus = sizes.corpus
        and corpus_images.image_id = sizes.image_id
)

select * from final
