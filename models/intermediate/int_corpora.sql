{#- Every corpus the warehouse holds: one token set per image of one dataset under one
    tokenization. Each dataset gives a caption corpus of the same name; each association run
    (`python -m generate`) gives a corpus named by its run id, e.g. `falcon-7b-instruct`.
    Variants of a base corpus: the same images and texts, other token sets (int_corpus_tokens):
    * `<corpus>-nostop` (var stop_word_variants, on by default; every base corpus): without the
      stop words of the model `stop_words`;
    * `<corpus>-lemma` (var lexicon_variants, on by default; caption corpora, whose tokens are
      words): the -nostop tokens plus each one's lemma as a feature `lemma:<lemma>` (source lexicon);
    * `<corpus>-concept` (same var): the -lemma features plus each word's WordNet first-sense
      synset and its hypernyms up to var concept_hypernym_levels links up, `concept:<synset>`.
    A table: many models read it, and it is computed once. -#}
{{ config(materialized='table') }}

with datasets as (
    select * from {{ ref('stg_raw__datasets') }}
),

captions as (
    select * from {{ ref('stg_raw__captions') }}
),

association_runs as (
    select * from {{ ref('stg_raw__association_runs') }}
),

tokenizers as (
    select
        dataset,
        case
            when count(source_tokens) = count(*) then 'source tokens'
            when count(source_tokens) = 0 then 'karpathy'
            else 'source tokens, else karpathy'
        end as tokenizer
    from captions
    group by dataset
),

caption_corpora as (
    select
        datasets.dataset as corpus,
        'captions' as kind,
        datasets.dataset,
        coalesce(tokenizers.tokenizer, 'karpathy') as tokenizer,
        datasets.source,
        datasets.ingested_at as created_at
    from datasets
    left join tokenizers
        on datasets.dataset = tokenizers.dataset
),

association_corpora as (
    select
        association_runs.run_id as corpus,
        'associations' as kind,
        association_runs.dataset,
        coalesce(association_runs.tokenizer, association_runs.model) as tokenizer,
        association_runs.model as source,
        association_runs.updated_at as created_at
    from association_runs
    -- a run whose dataset was deleted has no images left to cover
    inner join datasets
        on association_runs.dataset = datasets.dataset
),

base_corpora as (
    select * from caption_corpora
    union all
    select * from association_corpora
),

{%- set nostop_on = 'true' if bool_var('stop_word_variants', true) else 'false' -%}
{%- set lexicon_on = 'true' if bool_var('lexicon_variants', true) else 'false' %}
variants as (
    select variant, kind
    from (
        values
            ('nostop', 'captions', {{ nostop_on }}),
            ('nostop', 'associations', {{ nostop_on }}),
            ('lemma', 'captions', {{ lexicon_on }}),
            ('concept', 'captions', {{ lexicon_on }})
    ) as v (variant, kind, enabled)
    where enabled
),

variant_corpora as (
    select
        base_corpora.corpus || '-' || variants.variant as corpus,
        base_corpora.kind,
        base_corpora.dataset,
        base_corpora.tokenizer,
        base_corpora.source,
        base_corpora.created_at,
        base_corpora.corpus as base_corpus,
        variants.variant
    from base_corpora
    inner join variants
        on base_corpora.kind = variants.kind
),

corpora as (
    select *, corpus as base_corpus, 'all' as variant
    from base_corpora
    union all
    select * from variant_corpora
),

final as (
    select
        corpus,
        cast(row_number() over (order by corpus) as integer) as corpus_id,
        kind,
        dataset,
        tokenizer,
        source,
        created_at,
        base_corpus,
        variant
    from corpora
)

select * from final
