{#- The file an export model writes: <export_dir>/<name>.<format> (var export_dir, default
    data/exports, or $SEMSPACE_EXPORT_DIR). -#}
{% macro export_location(name, format) -%}
    {{ var('export_dir') }}/{{ name }}.{{ format }}
{%- endmacro %}


{#- The exports' pre-hook: DuckDB's COPY does not create the folder it writes into (a function of
    the project's dbt-duckdb plugin does); Spark's writers create theirs, so no hook there. -#}
{% macro make_export_dir(path) -%}
    {{ return(adapter.dispatch('make_export_dir', 'semspace')(path)) }}
{%- endmacro %}

{% macro duckdb__make_export_dir(path) -%}
    select semspace_make_dirs('{{ path }}')
{%- endmacro %}

{% macro default__make_export_dir(path) -%}
{%- endmacro %}


{#-
  The exports' materialization on Spark (dbt-duckdb brings its own `external`): the model's rows
  written with INSERT OVERWRITE DIRECTORY to config location, in config format (parquet or csv,
  with a header). Spark writes a folder of part files at that path, not one file: read
  `<name>.parquet/*.parquet` (DuckDB) or the folder (Spark, pandas, pyarrow). Nothing is
  registered in the catalog.
-#}
{% materialization external, adapter='spark' %}
    {%- set location = config.get('location') -%}
    {%- set format = config.get('format', 'parquet') -%}
    {%- if format not in ['parquet', 'csv'] -%}
        {{ exceptions.raise_compiler_error("external on Spark writes parquet or csv, not " ~ format) }}
    {%- endif -%}
    {{ run_hooks(pre_hooks) }}
    {%- call statement('main') -%}
        insert overwrite directory '{{ spark_path(location) }}'
        using {{ format }}
        {%- if format == 'csv' %} options (header 'true'){% endif %}
        {{ compiled_code }}
    {%- endcall -%}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': []}) }}
{% endmaterialization %}
