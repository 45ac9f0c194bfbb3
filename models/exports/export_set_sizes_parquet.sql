{{ config(format='parquet', location=export_location('set_sizes', 'parquet')) }}

select * from {{ ref('set_sizes') }}

order by corpus, image_id
