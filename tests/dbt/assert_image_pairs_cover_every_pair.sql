-- Every corpus that stores its pairs (int_corpus_scale) has each pair image_i < image_j of its
-- images exactly once in int_pair_overlaps, and a larger corpus has none; image_pairs, a view of
-- inner joins on int_image_weights, keeps every stored row once because that table has each
-- image of int_pair_set_sizes exactly once (checked here too).
-- Linear in the pairs, O(images) in memory: per image i, the number of rows (i, j) and the XOR of
-- hash(j) over them must equal the count and the XOR over the images after i. A missing, extra,
-- repeated or foreign j changes the count or the XOR (a repeat cancels in the XOR, so the j it
-- displaced is missing from it), short of a 64-bit hash collision. A GROUP BY over the
-- three-column key would find the same rows with a hash table of every pair (50M groups at COCO's
-- four corpora: 12 s and gigabytes; at 20k images, most of the build's memory).
with scale as (
    select * from {{ ref('int_corpus_scale') }}
),

set_sizes as (
    select * from {{ ref('int_pair_set_sizes') }}
),

stored as (
    select
        corpus_id,
        image_i as image_id,
        count(*) as n_rows,
        bit_xor(hash(image_j)) as fingerprint
    from {{ ref('int_pair_overlaps') }}
    group by corpus_id, image_i
),

expected as (
    select
        set_sizes.corpus_id,
        set_sizes.image_id,
        count(*) over later as n_rows,
        bit_xor(hash(set_sizes.image_id)) over later as fingerprint
    from set_sizes
    inner join scale
        on set_sizes.corpus_id = scale.corpus_id
    where scale.stores_all_pairs
    window later as (
        partition by set_sizes.corpus_id
        order by set_sizes.image_id
        rows between 1 following and unbounded following
    )
),

pair_problems as (
    select
        coalesce(expected.corpus_id, stored.corpus_id) as corpus_id,
        coalesce(expected.image_id, stored.image_id) as image_id,
        'pairs (image_id, j) stored: ' || coalesce(stored.n_rows, 0)
        || ', expected ' || coalesce(expected.n_rows, 0) as problem
    from expected
    full outer join stored
        on expected.corpus_id = stored.corpus_id
        and expected.image_id = stored.image_id
    where coalesce(expected.n_rows, 0) <> coalesce(stored.n_rows, 0)
        or coalesce(expected.fingerprint, 0) <> coalesce(stored.fingerprint, 0)
),

weight_rows as (
    select corpus_id, image_id, count(*) as n_rows
    from {{ ref('int_image_weights') }}
    group by corpus_id, image_id
),

weight_problems as (
    select
        coalesce(set_sizes.corpus_id, weight_rows.corpus_id) as corpus_id,
        coalesce(set_sizes.image_id, weight_rows.image_id) as image_id,
        'int_image_weights rows: ' || coalesce(weight_rows.n_rows, 0) || ', expected 1' as problem
    from set_sizes
    full outer join weight_rows
        on set_sizes.corpus_id = weight_rows.corpus_id
        and set_sizes.image_id = weight_rows.image_id
    where set_sizes.image_id is null or coalesce(weight_rows.n_rows, 0) <> 1
)

select * from pair_problems
union all
select * from weight_problems
