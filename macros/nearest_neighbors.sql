{#-
  nearest_neighbors(image_pairs, k): the k nearest images of every image of every corpus, from a
  relation of unordered pairs (image_i < image_j). Columns: corpus, image_id, neighbor_rank,
  neighbor_id, symmetric_difference, n_intersection, jaccard. Ties go to the smaller neighbor_id.
-#}
{% macro nearest_neighbors(image_pairs, k) -%}
    {%- if bool_var('portable_sql', false) -%}
        {{ return(default__nearest_neighbors(image_pairs, k)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('nearest_neighbors', 'semspace')(image_pairs, k)) }}
{%- endmacro %}


{#- Portable: both directions of every pair, ranked by a window. -#}
{% macro default__nearest_neighbors(image_pairs, k) %}
    with both_directions as (
        select corpus, image_i as image_id, image_j as neighbor_id, symmetric_difference, n_intersection, jaccard
        from {{ image_pairs }}
        union all
        select corpus, image_j as image_id, image_i as neighbor_id, symmetric_difference, n_intersection, jaccard
        from {{ image_pairs }}
    ),

    ranked as (
        {{ rank_neighbor_candidates('both_directions') }}
    )

    select *
    from ranked
    where neighbor_rank <= {{ k }}
{% endmacro %}


{#-
  DuckDB, and Spark from 4.2: a bounded top-k aggregate (min_by with n keeps a heap of k per
  group) over each direction separately, so the 2 × n_pairs rows are never materialised or
  sorted; the two short lists per image are merged by a window over 2k rows. ~5× faster than the
  window on COCO 5k (DuckDB). The sort key packs (symmetric_difference, neighbor_id) into one
  bigint: symmetric_difference < 2^31 and neighbor_id < 2^32, so it never overflows (Spark's
  non-ANSI arithmetic would wrap silently).
-#}
{% macro duckdb__nearest_neighbors(image_pairs, k) %}
    {{- top_k_nearest_neighbors(image_pairs, k) -}}
{% endmacro %}

{#- Spark before 4.2 has no min_by(x, key, k): the portable window there. -#}
{% macro spark__nearest_neighbors(image_pairs, k) %}
    {%- if spark_version_at_least(4, 2) -%}
        {{- top_k_nearest_neighbors(image_pairs, k) -}}
    {%- else -%}
        {{- default__nearest_neighbors(image_pairs, k) -}}
    {%- endif -%}
{% endmacro %}

{% macro top_k_nearest_neighbors(image_pairs, k) %}
    {#- each pair serves both its images: (image, neighbour) = (image_i, image_j), then (image_j, image_i) -#}
    with
    {%- for image, neighbor in [('image_i', 'image_j'), ('image_j', 'image_i')] %}
    top_by_{{ image }} as (
        select
            corpus,
            {{ image }} as image_id,
            min_by(
                {{ struct_of([('neighbor_id', neighbor), ('symmetric_difference', 'symmetric_difference'),
                              ('n_intersection', 'n_intersection'), ('jaccard', 'jaccard')]) }},
                cast(symmetric_difference as bigint) * 4294967296 + {{ neighbor }},
                {{ k }}
            ) as candidates
        from {{ image_pairs }}
        group by corpus, {{ image }}
    ),
    {%- endfor %}

    candidate_lists as (
        select * from top_by_image_i
        union all
        select * from top_by_image_j
    ),

    candidates as (
        select corpus, image_id, {{ unnest_structs('candidates') }}
        from candidate_lists
    ),

    ranked as (
        {{ rank_neighbor_candidates('candidates') }}
    )

    select *
    from ranked
    where neighbor_rank <= {{ k }}
{% endmacro %}


{#- struct_of([(name, expression), ...]): a struct value with those fields. -#}
{% macro struct_of(fields) -%}
    {{ return(adapter.dispatch('struct_of', 'semspace')(fields)) }}
{%- endmacro %}

{% macro duckdb__struct_of(fields) -%}
    { {%- for name, expression in fields %}'{{ name }}': {{ expression }}{{ ", " if not loop.last }}{% endfor -%} }
{%- endmacro %}

{% macro spark__struct_of(fields) -%}
    named_struct({%- for name, expression in fields %}'{{ name }}', {{ expression }}{{ ", " if not loop.last }}{% endfor -%})
{%- endmacro %}


{#- unnest_structs(array): in a select list, one row per element of an array of structs, one
    column per field. -#}
{% macro unnest_structs(expression) -%}
    {{ return(adapter.dispatch('unnest_structs', 'semspace')(expression)) }}
{%- endmacro %}

{% macro duckdb__unnest_structs(expression) -%}
    unnest({{ expression }}, recursive := true)
{%- endmacro %}

{% macro spark__unnest_structs(expression) -%}
    inline({{ expression }})
{%- endmacro %}


{#- spark_version_at_least(major, minor): the connected Spark's version (asked at run time; true
    while dbt only parses). -#}
{% macro spark_version_at_least(major, minor) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set version = run_query('select version()').rows[0][0] -%}
    {%- set parts = (version.split(' ')[0]).split('.') -%}
    {{ return([parts[0] | int, parts[1] | int] >= [major, minor]) }}
{%- endmacro %}


{#- Rank candidate neighbours of each image: nearest first, ties by the smaller neighbor_id. -#}
{% macro rank_neighbor_candidates(candidates) %}
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
        from {{ candidates }}
{% endmacro %}
