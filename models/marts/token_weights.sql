{#- Every token of every corpus with its document frequency (how many of the corpus's images have
    it) and its inverse document frequency idf = ln(N / df), N the corpus's images (empty sets
    included). A token every image has weighs 0. The weights of the IDF-weighted measures. -#}
with corpus_tokens as (
    select * from {{ ref('int_corpus_tokens') }}
),

set_sizes as (
    select * from {{ ref('int_set_sizes') }}
),

corpus_sizes as (
    select corpus, count(*) as n_images
    from set_sizes
    group by corpus
),

frequencies as (
    select corpus, token, count(*) as document_frequency
    from corpus_tokens
    group by corpus, token
),

final as (
    select
        frequencies.corpus,
        frequencies.token,
        cast(frequencies.document_frequency as integer) as document_frequency,
        ln(cast(corpus_sizes.n_images as double) / frequencies.document_frequency) as idf
    from frequencies
    inner join corpus_sizes
        on frequencies.corpus = corpus_sizes.corpus
)

select * from final
