{#- Word features of the lemma and concept variants (written by `semspace ingest`); empty in a
    warehouse ingested before the lexicon existed (then the variants have only lemma features equal
    to the words themselves: re-ingest the dataset to fill it). -#}
with source as (
    select * from {{ source_or_empty('raw', 'lexicon') }}
),

renamed as (
    select
        word,
        feature,
        kind,
        cast(depth as integer) as depth
    from source
)

select * from renamed
