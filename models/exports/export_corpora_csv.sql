{{ config(format='csv', location=export_location('corpora', 'csv')) }}

select * from {{ ref('corpora') }}

order by corpus
