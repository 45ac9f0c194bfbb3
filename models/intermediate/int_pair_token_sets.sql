{#- int_corpus_tokens keyed by the integer corpus_id: the input of the pair kernel. -#}
with token_sets as (
    select * from {{ ref('int_corpus_tokens') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

final as (
    select corpora.corpus_id, token_sets.image_id, token_sets.token
    from token_sets
    inner join corpora
        on token_sets.corpus = corpora.corpus
)

select * from final
