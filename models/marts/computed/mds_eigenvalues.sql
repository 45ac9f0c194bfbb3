{#- The whole spectrum of each corpus embedded by `semspace mds`, descending. A view over
    computed.mds_eigenvalues. -#}
{{ config(materialized='view') }}

with eigenvalues as (
    select * from {{ source_or_empty('computed', 'mds_eigenvalues') }}
),

final as (
    select corpus, cast(rank as integer) as rank, eigenvalue
    from eigenvalues
)

select * from final
