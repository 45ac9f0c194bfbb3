{#- Custom schemas are used as given (staging, intermediate), not prefixed with the target schema,
    so the marts sit in `main` and a user queries `image_pairs`, `staging.stg_raw__captions`, ... -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
