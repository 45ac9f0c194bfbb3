{#-
  pair_measures(pair_counts, image_weights, corpora): image_pairs' rows (corpus, image_i, image_j,
  the counts and every measure, each documented in _marts__models.yml) from relations shaped as
  int_pair_overlaps (the stored pairs, or pairs computed on demand: image_pairs_with, the SQL path
  of large corpora), int_image_weights and int_corpora. One definition of every measure's formula,
  so the stored pairs, the on-demand ones and the kernels' cross-checks agree to the bit.
-#}
{% macro pair_measures(pair_counts, image_weights, corpora) %}
    with pair_counts as (
        select * from {{ pair_counts }}
    ),

    image_weights as (
        select * from {{ image_weights }}
    ),

    corpora as (
        select * from {{ corpora }}
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
{% endmacro %}
