{{ config(format='parquet', location=export_location('image_pairs', 'parquet')) }}

select * from {{ ref('image_pairs') }}

order by corpus, image_i, image_j
