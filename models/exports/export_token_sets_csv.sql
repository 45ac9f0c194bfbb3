{{ config(format='csv', location=export_location('token_sets', 'csv')) }}

select * from {{ ref('token_sets') }}

order by corpus, image_id, token
