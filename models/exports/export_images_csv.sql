{{ config(format='csv', location=export_location('images', 'csv')) }}

select * from {{ ref('images') }}

order by dataset, image_id
