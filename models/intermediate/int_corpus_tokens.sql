{#- Distinct tokens of every image of every corpus: the caption corpora (one per dataset, the
    captions tokenized in SQL), the association corpora (one per run, tokenized by the model's
    own tokenizer in `python -m generate`, as the note did), and the stop-word-free variant of
    each (int_corpora): its base corpus's sets less every token that, lowercased and stripped of
    surrounding whitespace, is in the seed `stop_words`. (A model tokenizer's sub-word piece that
    spells a stop word, e.g. `the` of `the|ater`, goes too; caption tokens are whole words.) A table: the token sets are computed once, for the token_sets
    mart, the set sizes and the pair kernel. -#}
{{ config(materialized='table') }}

with caption_tokens as (
    select * from {{ ref('int_captions_tokenized') }}
),

association_tokens as (
    select * from {{ ref('stg_raw__association_tokens') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

stop_words as (
    select distinct lower(word) as word from {{ ref('stop_words') }}
),

caption_sets as (
    select distinct
        dataset as corpus,
        image_id,
        token
    from caption_tokens
),

association_sets as (
    select distinct
        run_id as corpus,
        image_id,
        token
    from association_tokens
),

base_sets as (
    select * from caption_sets
    union all
    select * from association_sets
),

variant_sets as (
    select
        corpora.corpus,
        base_sets.image_id,
        base_sets.token
    from corpora
    inner join base_sets
        on corpora.base_corpus = base_sets.corpus
    left join stop_words
        on lower(trim(base_sets.token)) = stop_words.word
    where corpora.variant = 'nostop'
        and stop_words.word is null
),

final as (
    select * from base_sets
    union all
    select * from variant_sets
)

select * from final
