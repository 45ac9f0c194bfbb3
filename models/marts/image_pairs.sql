{#- Every pair of images of every corpus with every measure of the warehouse, each documented with
    its formula in _marts__models.yml: the set counts (intersection, union, the note's symmetric
    difference), the set measures (Jaccard, Dice, overlap coefficient), the multiset measures over
    the n_captions counts (multiset intersection and symmetric difference, Σ|a_t − b_t|) and the
    weighted ones (IDF-weighted Jaccard of the sets, tf·idf weighted Jaccard, cosine of tf·idf^α).
    A view: the counts and weighted sums are stored once, narrow, in int_pair_overlaps (every pair),
    the per-image totals in int_image_weights; the corpus name and the measures cost nothing to
    store and little to compute on read. -#}
{{ config(materialized='view') }}


with pair_counts as (
    select * from {{ ref('int_pair_overlaps') }}
),

image_weights as (
    select * from {{ ref('int_image_weights') }}
),

corpora as (
    select * from {{ ref('int_corpora') }}
),

joined as (
    select
        pair_counts.corpus_id,
        pair_counts.image_i,
        pair_counts.image_j,
        pair_counts.n_i,
        pair_counts.n_j,
        pair_counts.n_intersection,
        pair_counts.n_i + pair_counts.n_j - pair_counts.n_intersection as n_union,
        wi.n_occurrences as m_i,
        wj.n_occurrences as m_j,
        pair_counts.n_multiset_intersection as n_multiset_intersection,
        pair_counts.idf_intersection_q as idf_intersection_q,
        wi.idf_total_q + wj.idf_total_q - pair_counts.idf_intersection_q as idf_union_q,
        pair_counts.weight_intersection_q as weight_intersection_q,
        wi.weight_total_q + wj.weight_total_q - pair_counts.weight_intersection_q as weight_union_q,
        pair_counts.dot_q as dot_q,
        wi.cosine_norm2_q as norm2_i_q,
        wj.cosine_norm2_q as norm2_j_q
    from pair_counts
    inner join image_weights as wi
        on pair_counts.corpus_id = wi.corpus_id
        and pair_counts.image_i = wi.image_id
    inner join image_weights as wj
        on pair_counts.corpus_id = wj.corpus_id
        and pair_counts.image_j = wj.image_id
),

final as (
    select
        corpora.corpus,
        joined.image_i,
        joined.image_j,
        joined.n_i,
        joined.n_j,
        joined.n_intersection,
        joined.n_union,
        joined.n_i + joined.n_j - 2 * joined.n_intersection as symmetric_difference,
        case
            when joined.n_union > 0
                then cast(joined.n_intersection as double) / joined.n_union
        end as jaccard,
        case
            when joined.n_i + joined.n_j > 0
                then cast(2 * joined.n_intersection as double) / (joined.n_i + joined.n_j)
            else cast(0 as double)
        end as dice,
        case
            when least(joined.n_i, joined.n_j) > 0
                then cast(joined.n_intersection as double) / least(joined.n_i, joined.n_j)
            else cast(0 as double)
        end as overlap,
        cast(joined.n_multiset_intersection as integer) as n_multiset_intersection,
        cast(joined.m_i + joined.m_j - 2 * joined.n_multiset_intersection as integer) as multiset_symmetric_difference,
        case
            when joined.idf_union_q > 0
                then cast(joined.idf_intersection_q as double) / cast(joined.idf_union_q as double)
            else cast(0 as double)
        end as idf_jaccard,
        case
            when joined.weight_union_q > 0
                then cast(joined.weight_intersection_q as double) / cast(joined.weight_union_q as double)
            else cast(0 as double)
        end as weighted_jaccard,
        case
            when joined.norm2_i_q > 0 and joined.norm2_j_q > 0
                then least(
                    cast(1 as double),
                    cast(joined.dot_q as double)
                    / (sqrt(cast(joined.norm2_i_q as double)) * sqrt(cast(joined.norm2_j_q as double)))
                )
            else cast(0 as double)
        end as cosine
    from joined
    inner join corpora
        on joined.corpus_id = corpora.corpus_id
)

select * from final
