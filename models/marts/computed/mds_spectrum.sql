{#- One row per corpus embedded by `semspace mds`: the signature of the spectrum of
    B = −½ J D² J and the share of each of the first var('mds_axes') axes in the positive sum.
    A view over computed.mds_spectrum and computed.mds_eigenvalues: it shows a new MDS run at once. -#}
{{ config(materialized='view') }}

with spectrum as (
    select * from {{ source_or_empty('computed', 'mds_spectrum') }}
),

eigenvalues as (
    select * from {{ source_or_empty('computed', 'mds_eigenvalues') }}
),

axes as (
    select corpus, count(distinct axis) as n_axes
    from {{ source_or_empty('computed', 'mds_coordinates') }}
    group by corpus
),

shares as (
    select
        spectrum.corpus,
        {%- for axis in range(1, int_var('mds_axes', 10, 1) + 1) %}
        max(case
            when eigenvalues.rank = {{ axis }} and {{ axis }} <= coalesce(axes.n_axes, 0)
                then case
                    when spectrum.sum_positive > 0
                        then greatest(eigenvalues.eigenvalue / spectrum.sum_positive, cast(0 as double))
                    else cast(0 as double)
                end
        end) as axis_share_{{ axis }}{{ "," if not loop.last }}
        {%- endfor %}
    from spectrum
    left join eigenvalues
        on spectrum.corpus = eigenvalues.corpus
        and eigenvalues.rank <= {{ int_var('mds_axes', 10, 1) }}
    left join axes
        on spectrum.corpus = axes.corpus
    group by spectrum.corpus
),

final as (
    select
        spectrum.corpus,
        cast(spectrum.n_points as integer) as n_points,
        spectrum.method,
        cast(spectrum.n_landmarks as integer) as n_landmarks,
        cast(spectrum.n_eigenvalues as integer) as n_eigenvalues,
        cast(spectrum.n_positive as integer) as n_positive,
        cast(spectrum.n_negative as integer) as n_negative,
        cast(spectrum.n_zero as integer) as n_zero,
        cast(spectrum.n_positive + spectrum.n_zero as integer) as n_nonnegative,
        spectrum.tolerance,
        spectrum.sum_positive,
        spectrum.sum_abs_negative,
        {%- for axis in range(1, int_var('mds_axes', 10, 1) + 1) %}
        shares.axis_share_{{ axis }},
        {%- endfor %}
        -- Spark reads DuckDB's Parquet timestamps as timestamp_ntz: one type on both engines
        cast(spectrum.computed_at as timestamp) as computed_at
    from spectrum
    inner join shares
        on spectrum.corpus = shares.corpus
)

select * from final
