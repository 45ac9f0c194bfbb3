{#- Every image of every corpus has min(k, n − 1) neighbours under each measure of var
    neighbor_measures (k = var neighbors_k, n its corpus's images): a list that is missing or
    short fails here, e.g. image_neighbors rebuilt with another k or measure while the kernel's
    int_neighbors_computed was not (select int_neighbors_computed+ to rebuild both). -#}
{%- set k = int_var('neighbors_k', 10, 1) %}

with scale as (
    select corpus_id, corpus, n_images from {{ ref('int_corpus_scale') }}
),

images as (
    select scale.corpus, sizes.image_id, scale.n_images
    from {{ ref('int_pair_set_sizes') }} as sizes
    inner join scale
        on sizes.corpus_id = scale.corpus_id
),

measures as (
    select measure
    from (values {% for m in neighbor_measures() %}('{{ m }}'){{ ", " if not loop.last }}{% endfor %}) as chosen (measure)
),

expected as (
    select
        images.corpus,
        measures.measure,
        images.image_id,
        least({{ k }}, images.n_images - 1) as n_expected
    from images
    cross join measures
),

listed as (
    select corpus, measure, image_id, count(*) as n_listed
    from {{ ref('image_neighbors') }}
    group by corpus, measure, image_id
)

select
    expected.corpus,
    expected.measure,
    expected.image_id,
    expected.n_expected,
    coalesce(listed.n_listed, 0) as n_listed
from expected
left join listed
    on expected.corpus = listed.corpus
    and expected.measure = listed.measure
    and expected.image_id = listed.image_id
where coalesce(listed.n_listed, 0) <> expected.n_expected
