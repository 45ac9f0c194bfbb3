{{ config(format='csv', location=export_location('pair_summary', 'csv')) }}

select * from {{ ref('pair_summary') }}

order by corpus
