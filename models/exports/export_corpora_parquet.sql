{{ config(format='parquet', location=export_location('corpora', 'parquet')) }}

select * from {{ ref('corpora') }}

order by corpus
