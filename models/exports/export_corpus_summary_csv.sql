{{ config(format='csv', location=export_location('corpus_summary', 'csv')) }}

select * from {{ ref('corpus_summary') }}

order by corpus
