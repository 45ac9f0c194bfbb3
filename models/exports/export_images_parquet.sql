{{ config(format='parquet', location=export_location('images', 'parquet')) }}

select * from {{ ref('images') }}

order by dataset, image_id
