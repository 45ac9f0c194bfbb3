{{ config(format='csv', location=export_location('image_pairs', 'csv')) }}

select * from {{ ref('image_pairs') }}

order by corpus, image_i, image_j
