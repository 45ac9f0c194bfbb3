{{ config(format='parquet', location=export_location('pair_summary', 'parquet')) }}

select * from {{ ref('pair_summary') }}

order by corpus
