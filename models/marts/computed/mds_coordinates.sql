{#- The MDS map: one row per image of each embedded corpus, its coordinates on the first
    var('mds_axes') axes as columns x1, x2, ... (null beyond the axes the run computed). A view
    that pivots computed.mds_coordinates. -#}
{{ config(materialized='view') }}

with coordinates as (
    select * from {{ source_or_empty('computed', 'mds_coordinates') }}
),

final as (
    select
        corpus,
        cast(image_id as integer) as image_id,
        {%- for axis in range(1, int_var('mds_axes', 10, 1) + 1) %}
        max(case when axis = {{ axis }} then coordinate end) as x{{ axis }}{{ "," if not loop.last }}
        {%- endfor %}
    from coordinates
    group by corpus, image_id
)

select * from final
