{{ config(format='parquet', location=export_location('corpus_summary', 'parquet')) }}

select * from {{ ref('corpus_summary') }}

order by corpus
