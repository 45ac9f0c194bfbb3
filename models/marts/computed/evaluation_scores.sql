{#- Every score of `semspace evaluate`: image→image retrieval against ECCV Caption's
    human-verified positives, per corpus, image scope, measure and metric. A view over
    computed.evaluation_scores. -#}
{{ config(materialized='view') }}

with scores as (
    select * from {{ source_or_empty('computed', 'evaluation_scores') }}
),

final as (
    select
        corpus,
        image_scope,
        measure,
        benchmark,
        metric,
        value,
        cast(n_queries as integer) as n_queries,
        -- Spark reads DuckDB's Parquet timestamps as timestamp_ntz: one type on both engines
        cast(computed_at as timestamp) as computed_at
    from scores
)

select * from final
