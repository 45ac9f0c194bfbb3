{#- The token multiset of every image of every corpus: one row per distinct token of the image's
    set, with n_captions, how many of the image's texts hold it (its multiplicity; the set is the
    multiset's support).
    * Caption corpora (one per dataset): the captions tokenized in SQL (int_captions_tokenized);
      n_captions counts the image's captions that use the token.
    * Association corpora (one per run): the tokens of the image's joined chain texts, split by the
      model's own tokenizer in `semspace generate`, as the note did; n_captions counts the chains
      (one per caption) that hold the token (raw.association_tokens.n_chains).
    * `-nostop` variants: the base corpus's rows less every token that, lowercased and stripped of
      surrounding whitespace, is in the model `stop_words`. (A model tokenizer's sub-word piece that
      spells a stop word, e.g. `the` of `the|ater`, goes too; caption tokens are whole words.)
    * `-lemma` variants (caption corpora): per caption, its -nostop tokens and, beside each, the
      feature `lemma:<lemma>` (the word's lemma from the source lexicon, else the word itself), so
      `dog` and `dogs` share one feature while each keeps its own; n_captions counts the captions
      that have the feature.
    * `-concept` variants (caption corpora): the -lemma features plus, per word, its WordNet
      first-sense synset and hypernyms up to var concept_hypernym_levels (default 3) links up,
      `concept:<synset>`: a hidden `canine` feature shared by dog and puppy captions.
    A table: computed once, for token_sets, the set sizes, the weights and the pair kernels. -#}
{{ config(materialized='table') }}

{%- set hypernym_levels = int_var('concept_hypernym_levels', 3, 0) %}

with caption_tokens as (
    select * from {{ ref('int_captions_tokenized') }}
),

association_tokens as (
    select * from {{ ref('stg_raw__association_tokens') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

lexicon as (
    select * from {{ ref('stg_raw__lexicon') }}
),

stop_words as (
    select distinct lower(word) as word from {{ ref('stop_words') }}
),

caption_sets as (
    select
        dataset as corpus,
        image_id,
        token,
        count(distinct caption_index) as n_captions
    from caption_tokens
    group by dataset, image_id, token
),

association_sets as (
    select
        run_id as corpus,
        image_id,
        token,
        n_chains as n_captions
    from association_tokens
),

base_sets as (
    select * from caption_sets
    union all
    select * from association_sets
),

nostop_sets as (
    select
        corpora.corpus,
        base_sets.image_id,
        base_sets.token,
        base_sets.n_captions
    from corpora
    inner join base_sets
        on corpora.base_corpus = base_sets.corpus
    left join stop_words
        on lower(trim(base_sets.token)) = stop_words.word
    where corpora.variant = 'nostop'
        and stop_words.word is null
),

{#- the caption-level tokens of the lexicon variants: the stop-word-free tokens of each caption -#}
content_tokens as (
    select distinct
        corpora.corpus,
        corpora.variant,
        caption_tokens.image_id,
        caption_tokens.caption_index,
        caption_tokens.token,
        lower(trim(caption_tokens.token)) as word
    from corpora
    inner join caption_tokens
        on corpora.base_corpus = caption_tokens.dataset
    left join stop_words
        on lower(trim(caption_tokens.token)) = stop_words.word
    where corpora.variant in ('lemma', 'concept')
        and corpora.kind = 'captions'
        and stop_words.word is null
),

lemmas as (
    select word, min(feature) as feature
    from lexicon
    where kind = 'lemma'
    group by word
),

concepts as (
    select word, feature
    from lexicon
    where kind = 'concept'
        and depth <= {{ hypernym_levels }}
),

caption_features as (
    select corpus, image_id, caption_index, token as feature
    from content_tokens
    union all
    select
        content_tokens.corpus,
        content_tokens.image_id,
        content_tokens.caption_index,
        coalesce(lemmas.feature, 'lemma:' || content_tokens.word) as feature
    from content_tokens
    left join lemmas
        on content_tokens.word = lemmas.word
    union all
    select
        content_tokens.corpus,
        content_tokens.image_id,
        content_tokens.caption_index,
        concepts.feature
    from content_tokens
    inner join concepts
        on content_tokens.word = concepts.word
    where content_tokens.variant = 'concept'
),

lexicon_sets as (
    select
        corpus,
        image_id,
        feature as token,
        count(distinct caption_index) as n_captions
    from caption_features
    group by corpus, image_id, feature
),

unioned as (
    select * from base_sets
    union all
    select * from nostop_sets
    union all
    select * from lexicon_sets
),

final as (
    select
        corpus,
        cast(image_id as integer) as image_id,
        token,
        cast(n_captions as integer) as n_captions
    from unioned
)

select * from final
