{#- Every pair of images of every corpus with the sizes of their token sets' intersection, union
    and symmetric difference (the note's distance), and the set measures derived from them
    (Jaccard, Dice, overlap coefficient). A view: the counts are stored once, narrow, in
    int_pair_overlaps; the corpus name and the derived measures cost nothing to compute on read. -#}
{{ config(materialized='view') }}

with pair_counts as (
    select * from {{ ref('int_pair_overlaps') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

final as (
    select
        corpora.corpus,
        pair_counts.image_i,
        pair_counts.image_j,
        pair_counts.n_i,
        pair_counts.n_j,
        pair_counts.n_intersection,
        pair_counts.n_i + pair_counts.n_j - pair_counts.n_intersection as n_union,
        pair_counts.n_i + pair_counts.n_j - 2 * pair_counts.n_intersection as symmetric_difference,
        case
            when pair_counts.n_i + pair_counts.n_j - pair_counts.n_intersection > 0
                then cast(pair_counts.n_intersection as double) / (pair_counts.n_i + pair_counts.n_j - pair_counts.n_intersection)
        end as jaccard,
        case
            when pair_counts.n_i + pair_counts.n_j > 0
                then cast(2 * pair_counts.n_intersection as double) / (pair_counts.n_i + pair_counts.n_j)
            else cast(0 as double)
        end as dice,
        case
            when least(pair_counts.n_i, pair_counts.n_j) > 0
                then cast(pair_counts.n_intersection as double) / least(pair_counts.n_i, pair_counts.n_j)
            else cast(0 as double)
        end as overlap
    from pair_counts
    inner join corpora
        on pair_counts.corpus_id = corpora.corpus_id
)

select * from final
