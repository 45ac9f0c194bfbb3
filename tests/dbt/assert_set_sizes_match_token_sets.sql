-- set_sizes.n_tokens is the number of token_sets rows of the image.
with counted as (
    select corpus, image_id, count(*) as n_tokens
    from {{ ref('token_sets') }}
    group by corpus, image_id
)

select s.corpus, s.image_id, s.n_tokens, counted.n_tokens as counted
from {{ ref('set_sizes') }} as s
left join counted
    on s.corpus = counted.corpus
    and s.image_id = counted.image_id
where s.n_tokens <> coalesce(counted.n_tokens, 0)
