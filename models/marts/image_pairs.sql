{#- Every pair of images of every corpus with every measure of the warehouse, each documented with
    its formula in _marts__models.yml: the set counts (intersection, union, the note's symmetric
    difference), the set measures (Jaccard, Dice, overlap coefficient), the multiset measures over
    the n_captions counts (multiset intersection and symmetric difference, Σ|a_t − b_t|) and the
    weighted ones (IDF-weighted Jaccard of the sets, tf·idf weighted Jaccard, cosine of tf·idf^α).
    A view: the counts and weighted sums are stored once, narrow, in int_pair_overlaps (every pair),
    the per-image totals in int_image_weights; the corpus name and the measures cost nothing to
    store and little to compute on read. -#}
{#- The post-hook stores the table macro image_pairs_with(corpus, image_id): one image against all,
    on demand, for every corpus (macros/image_pairs_with.sql). -#}
-- depends_on: {{ ref('int_token_weights') }}, {{ ref('int_pair_set_sizes') }}
{{ config(materialized='view', post_hook="{{ create_image_pairs_with() }}") }}


{{ pair_measures(ref('int_pair_overlaps'), ref('int_image_weights'), ref('int_corpora')) }}
