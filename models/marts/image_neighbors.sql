{#- The k nearest images of every image (k = var neighbors_k) by symmetric difference; ties go to
    the smaller neighbor_id. An image is not its own neighbour. The top-k kernel is engine-specific:
    see macros/nearest_neighbors.sql. -#}
with nearest as (
    {{ nearest_neighbors(ref('image_pairs'), int_var('neighbors_k', 10, 1)) }}
),

final as (
    select
        corpus,
        cast(image_id as integer) as image_id,
        cast(neighbor_rank as integer) as rank,
        cast(neighbor_id as integer) as neighbor_id,
        cast(symmetric_difference as integer) as symmetric_difference,
        cast(n_intersection as integer) as n_intersection,
        cast(jaccard as double) as jaccard
    from nearest
)

select * from final
