{#- Every pair of images of every corpus with the sizes of their token sets' intersection, union
    and symmetric difference (the note's distance). The set-overlap kernel is engine-specific:
    see macros/pair_overlaps.sql. -#}
with overlap_counts as (
    {{ pair_overlaps(ref('token_sets'), ref('set_sizes')) }}
),

final as (
    select
        corpus,
        cast(image_i as integer) as image_i,
        cast(image_j as integer) as image_j,
        cast(n_i as integer) as n_i,
        cast(n_j as integer) as n_j,
        cast(n_intersection as integer) as n_intersection,
        cast(n_i + n_j - n_intersection as integer) as n_union,
        cast(n_i + n_j - 2 * n_intersection as integer) as symmetric_difference,
        case
            when n_i + n_j - n_intersection > 0
                then cast(n_intersection as double) / (n_i + n_j - n_intersection)
        end as jaccard
    from overlap_counts
)

select * from final
