{#- The k nearest images of every image (k = var neighbors_k) of every corpus under each measure of
    var neighbor_measures (default: the note's symmetric_difference, multiset_symmetric_difference,
    jaccard, weighted_jaccard and cosine); ties go to the smaller neighbor_id. An image is not its
    own neighbour. The top-k kernel is engine-specific: see macros/nearest_neighbors.sql. -#}
with nearest as (
    {{ nearest_neighbors(ref('image_pairs'), int_var('neighbors_k', 10, 1), neighbor_measures()) }}
),

final as (
    select
        corpus,
        measure,
        cast(image_id as integer) as image_id,
        cast(neighbor_rank as integer) as rank,
        cast(neighbor_id as integer) as neighbor_id,
        cast(value as double) as value,
        cast(symmetric_difference as integer) as symmetric_difference,
        cast(n_intersection as integer) as n_intersection,
        cast(jaccard as double) as jaccard
    from nearest
)

select * from final
