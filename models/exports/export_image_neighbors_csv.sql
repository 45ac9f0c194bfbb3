{{ config(format='csv', location=export_location('image_neighbors', 'csv')) }}

select * from {{ ref('image_neighbors') }}

order by corpus, image_id, rank
