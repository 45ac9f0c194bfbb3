{#- The file an export model writes: <export_dir>/<name>.<format> (var export_dir, default
    data/exports, or $SEMSPACE_EXPORT_DIR). -#}
{% macro export_location(name, format) -%}
    {{ var('export_dir') }}/{{ name }}.{{ format }}
{%- endmacro %}
