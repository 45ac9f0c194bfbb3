{#- int_set_sizes keyed by the integer corpus_id: the input of the pair kernel. -#}
with set_sizes as (
    select * from {{ ref('int_set_sizes') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

final as (
    select corpora.corpus_id, set_sizes.image_id, set_sizes.n_tokens
    from set_sizes
    inner join corpora
        on set_sizes.corpus = corpora.corpus
)

select * from final
