{{ config(format='csv', location=export_location('set_sizes', 'csv')) }}

select * from {{ ref('set_sizes') }}

order by corpus, image_id
