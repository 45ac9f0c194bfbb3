-- Every corpus that stores its pairs (int_corpus_scale) has exactly n (n - 1) / 2 of them: none
-- missing, none extra; a larger corpus has none.
with sizes as (
    select corpus, n_images, stores_all_pairs
    from {{ ref('int_corpus_scale') }}
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
where coalesce(pairs.n_pairs, 0)
    <> case when sizes.stores_all_pairs then sizes.n_images * (sizes.n_images - 1) / 2 else 0 end
