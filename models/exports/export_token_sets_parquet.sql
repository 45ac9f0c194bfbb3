{{ config(format='parquet', location=export_location('token_sets', 'parquet')) }}

select * from {{ ref('token_sets') }}

order by corpus, image_id, token
