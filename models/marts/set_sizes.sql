with set_sizes as (
    select * from {{ ref('int_set_sizes') }}
),

final as (
    select corpus, image_id, n_tokens, n_occurrences
    from set_sizes
)

select * from final
