-- Every corpus has exactly n (n - 1) / 2 pairs: none missing, none extra.
with sizes as (
    select corpus, count(*) as n_images
    from {{ ref('set_sizes') }}
    group by corpus
),

pairs as (
    select corpus, count(*) as n_pairs
    from {{ ref('image_pairs') }}
    group by corpus
)

select sizes.corpus, sizes.n_images, pairs.n_pairs
from sizes
left join pairs
    on sizes.corpus = pairs.corpus
where coalesce(pairs.n_pairs, 0) <> sizes.n_images * (sizes.n_images - 1) / 2
