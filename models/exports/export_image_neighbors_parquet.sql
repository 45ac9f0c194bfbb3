{{ config(format='parquet', location=export_location('image_neighbors', 'parquet')) }}

select * from {{ ref('image_neighbors') }}

order by corpus, image_id, rank
