{#- The k nearest images of every image (k = var neighbors_k) by symmetric difference; ties go to
    the smaller neighbor_id. An image is not its own neighbour. -#}
with image_pairs as (
    select * from {{ ref('image_pairs') }}
),

both_directions as (
    select corpus, image_i as image_id, image_j as neighbor_id, symmetric_difference, n_intersection, jaccard
    from image_pairs
    union all
    select corpus, image_j as image_id, image_i as neighbor_id, symmetric_difference, n_intersection, jaccard
    from image_pairs
),

ranked as (
    select
        corpus,
        image_id,
        row_number() over (
            partition by corpus, image_id
            order by symmetric_difference, neighbor_id
        ) as neighbor_rank,
        neighbor_id,
        symmetric_difference,
        n_intersection,
        jaccard
    from both_directions
),

final as (
    select
        corpus,
        image_id,
        cast(neighbor_rank as integer) as rank,
        neighbor_id,
        symmetric_difference,
        n_intersection,
        jaccard
    from ranked
    where neighbor_rank <= {{ var('neighbors_k') | int }}
)

select * from final
