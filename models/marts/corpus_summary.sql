{#- The note's Tables 1 and 3: one row per corpus. n_tokens is the sum of per-image set sizes. -#}
with corpora as (
    select * from {{ ref('int_corpora') }}
),

documents as (
    select * from {{ ref('int_corpus_documents') }}
),

set_sizes as (
    select * from {{ ref('int_set_sizes') }}
),

token_sets as (
    select * from {{ ref('int_corpus_tokens') }}
),

text_totals as (
    select corpus, sum(n_texts) as n_captions, sum(n_chars) as n_caption_chars
    from documents
    group by corpus
),

size_totals as (
    select corpus, count(*) as n_images, sum(n_tokens) as n_tokens
    from set_sizes
    group by corpus
),

vocabularies as (
    select corpus, count(distinct token) as n_distinct_tokens
    from token_sets
    group by corpus
),

final as (
    select
        corpora.corpus,
        cast(size_totals.n_images as integer) as n_images,
        cast(coalesce(text_totals.n_captions, 0) as integer) as n_captions,
        cast(coalesce(text_totals.n_caption_chars, 0) as bigint) as n_caption_chars,
        cast(coalesce(size_totals.n_tokens, 0) as bigint) as n_tokens,
        cast(coalesce(vocabularies.n_distinct_tokens, 0) as integer) as n_distinct_tokens,
        cast(coalesce(text_totals.n_caption_chars, 0) as double) / size_totals.n_images as mean_caption_chars,
        cast(coalesce(size_totals.n_tokens, 0) as double) / size_totals.n_images as mean_tokens
    from corpora
    inner join size_totals
        on corpora.corpus = size_totals.corpus
    left join text_totals
        on corpora.corpus = text_totals.corpus
    left join vocabularies
        on corpora.corpus = vocabularies.corpus
)

select * from final
