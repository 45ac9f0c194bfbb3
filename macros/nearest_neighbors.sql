{#-
  The measures image_neighbors can rank by: name -> (column of image_pairs, integer distance or
  similarity). Distances rank ascending, similarities descending (null, a Jaccard of two empty
  sets, as 0); ties go to the smaller neighbor_id.
-#}
{% macro neighbor_measure_kinds() -%}
    {{ return({
        'symmetric_difference': 'distance',
        'multiset_symmetric_difference': 'distance',
        'jaccard': 'similarity',
        'dice': 'similarity',
        'overlap': 'similarity',
        'idf_jaccard': 'similarity',
        'weighted_jaccard': 'similarity',
        'cosine': 'similarity',
    }) }}
{%- endmacro %}

{#- The measures of var neighbor_measures, checked against neighbor_measure_kinds(). -#}
{% macro neighbor_measures() -%}
    {%- set kinds = neighbor_measure_kinds() -%}
    {{ return(choice_list_var('neighbor_measures',
        ['symmetric_difference', 'multiset_symmetric_difference', 'jaccard', 'weighted_jaccard', 'cosine'],
        kinds.keys() | list)) }}
{%- endmacro %}

{#- A measure's value as the ascending sort key (a double): the distance, or minus the similarity. -#}
{% macro neighbor_sort_value(measure, column=none) -%}
    {%- set column = column or measure -%}
    {%- if neighbor_measure_kinds()[measure] == 'distance' -%}
        cast({{ column }} as double)
    {%- else -%}
        -coalesce(cast({{ column }} as double), cast(0 as double))
    {%- endif -%}
{%- endmacro %}


{#-
  nearest_neighbors(image_pairs, k, measures): the k nearest images of every image of every corpus
  under each measure, from a relation of unordered pairs (image_i < image_j) with the measures'
  columns. Columns: corpus, measure, image_id, neighbor_rank, neighbor_id, value (the measure's),
  symmetric_difference, n_intersection, jaccard. Ties go to the smaller neighbor_id.
-#}
{% macro nearest_neighbors(image_pairs, k, measures) -%}
    {%- if bool_var('portable_sql', false) -%}
        {{ return(default__nearest_neighbors(image_pairs, k, measures)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('nearest_neighbors', 'semspace')(image_pairs, k, measures)) }}
{%- endmacro %}


{#- Portable: both directions of every pair, one row per measure, ranked by a window. -#}
{% macro default__nearest_neighbors(image_pairs, k, measures) %}
    with both_directions as (
        select corpus, image_i as image_id, image_j as neighbor_id, symmetric_difference, n_intersection, jaccard
            {%- for m in measures if m not in ('symmetric_difference', 'jaccard') %}, {{ m }}{% endfor %}
        from {{ image_pairs }}
        union all
        select corpus, image_j as image_id, image_i as neighbor_id, symmetric_difference, n_intersection, jaccard
            {%- for m in measures if m not in ('symmetric_difference', 'jaccard') %}, {{ m }}{% endfor %}
        from {{ image_pairs }}
    ),

    candidates as (
        {%- for m in measures %}
        select
            corpus,
            '{{ m }}' as measure,
            image_id,
            neighbor_id,
            cast({{ m }} as double) as value,
            {{ neighbor_sort_value(m) }} as sort_value,
            symmetric_difference,
            n_intersection,
            jaccard
        from both_directions
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
    ),

    ranked as (
        {{ rank_neighbor_candidates('candidates') }}
    )

    select *
    from ranked
    where neighbor_rank <= {{ k }}
{% endmacro %}


{#-
  DuckDB, and Spark from 4.2: a bounded top-k aggregate (min_by with n keeps a heap of k per
  group) per measure, over each direction separately and in one scan of the pairs for every
  measure, so the 2 × n_pairs rows are never materialised or sorted; the short lists per image
  are merged by a window over 2k rows. ~5× faster than the window on COCO 5k (DuckDB). An integer
  distance's sort key packs (distance, neighbor_id) into one bigint (distance < 2^31, neighbor_id
  < 2^32: it never overflows; Spark's non-ANSI arithmetic would wrap silently); a similarity's is
  the struct (−similarity, neighbor_id).
-#}
{% macro duckdb__nearest_neighbors(image_pairs, k, measures) %}
    {{- top_k_nearest_neighbors(image_pairs, k, measures) -}}
{% endmacro %}

{#- Spark before 4.2 has no min_by(x, key, k): the portable window there. -#}
{% macro spark__nearest_neighbors(image_pairs, k, measures) %}
    {%- if spark_version_at_least(4, 2) -%}
        {{- top_k_nearest_neighbors(image_pairs, k, measures) -}}
    {%- else -%}
        {{- default__nearest_neighbors(image_pairs, k, measures) -}}
    {%- endif -%}
{% endmacro %}

{% macro top_k_nearest_neighbors(image_pairs, k, measures) %}
    {%- set kinds = neighbor_measure_kinds() -%}
    {#- each pair serves both its images: (image, neighbour) = (image_i, image_j), then (image_j, image_i) -#}
    with
    {%- for image, neighbor in [('image_i', 'image_j'), ('image_j', 'image_i')] %}
    top_by_{{ image }} as (
        select
            corpus,
            {{ image }} as image_id
            {%- for m in measures %},
            min_by(
                {{ struct_of([('neighbor_id', neighbor), ('value', 'cast(' ~ m ~ ' as double)'),
                              ('symmetric_difference', 'symmetric_difference'),
                              ('n_intersection', 'n_intersection'), ('jaccard', 'jaccard')]) }},
                {%- if kinds[m] == 'distance' %}
                cast({{ m }} as bigint) * 4294967296 + {{ neighbor }},
                {%- else %}
                {{ struct_of([('sort_value', neighbor_sort_value(m)), ('neighbor_id', neighbor)]) }},
                {%- endif %}
                {{ k }}
            ) as candidates_{{ loop.index }}
            {%- endfor %}
        from {{ image_pairs }}
        group by corpus, {{ image }}
    ),
    {%- endfor %}

    candidate_lists as (
        {%- for m in measures %}
        {%- set outer = loop %}
        {%- for image in ['image_i', 'image_j'] %}
        select corpus, '{{ m }}' as measure, image_id, candidates_{{ outer.index }} as candidates
        from top_by_{{ image }}
        {{- "\n        union all" if not (outer.last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
    ),

    unnested as (
        select corpus, measure, image_id, {{ unnest_structs('candidates') }}
        from candidate_lists
    ),

    candidates as (
        select
            corpus,
            measure,
            image_id,
            neighbor_id,
            value,
            case
                {%- for m in measures %}
                when measure = '{{ m }}' then {{ neighbor_sort_value(m, 'value') }}
                {%- endfor %}
            end as sort_value,
            symmetric_difference,
            n_intersection,
            jaccard
        from unnested
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


{#- Rank candidate neighbours of each image under each measure: nearest first (sort_value
    ascending), ties by the smaller neighbor_id. -#}
{% macro rank_neighbor_candidates(candidates) %}
        select
            corpus,
            measure,
            image_id,
            row_number() over (
                partition by corpus, measure, image_id
                order by sort_value, neighbor_id
            ) as neighbor_rank,
            neighbor_id,
            value,
            symmetric_difference,
            n_intersection,
            jaccard
        from {{ candidates }}
{% endmacro %}
