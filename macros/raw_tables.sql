{#-
  register_raw_tables(): on-run-start. Where dbt reads the raw tables from.
  DuckDB: nothing to do; `python -m ingest` and `python -m generate` write raw.* into the
  warehouse file itself.
  Spark: the raw tables are Parquet folders written by `python -m ingest export-raw --out DIR`
  (one folder per table of the raw and computed schemas). var raw_parquet_dir (default $SEMSPACE_RAW_PARQUET, else
  data/raw_parquet) names DIR, as the Spark driver sees it (a local path, hdfs://, s3a://, dbfs:/,
  ...; a relative local path is taken from the dbt project's folder); each run registers every folder as an external table raw.<table> (drop + create, so a
  re-export is always read afresh; dropping an external table leaves its files alone). An empty
  raw_parquet_dir registers nothing: the raw schema's tables are used as they are.
-#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables', 'semspace')()) }}
{%- endmacro %}

{% macro default__register_raw_tables() -%}
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {%- set folder = var('raw_parquet_dir', '') | trim -%}
    {%- if execute and folder -%}
        {%- set folder = spark_path(folder.rstrip('/')) -%}
        {#- every table of the sources raw and computed (_sources.yml, semspace.contract) -#}
        {%- for node in graph.sources.values() | sort(attribute='unique_id')
                if node.package_name == 'semspace' and node.source_name in ['raw', 'computed'] %}
            {% do run_query('create schema if not exists ' ~ node.schema) %}
            {% do run_query('drop table if exists ' ~ node.schema ~ '.' ~ node.identifier) %}
            {% do run_query('create table ' ~ node.schema ~ '.' ~ node.identifier ~ " using parquet location '" ~ folder ~ '/' ~ node.identifier ~ "'") %}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}


{#- spark_path(path): a path for a Spark SQL string literal. A relative local path (no scheme) is
    made absolute against the dbt project's folder (Spark would resolve it elsewhere); backslashes
    and quotes are escaped (Spark's literals unescape backslashes). -#}
{% macro spark_path(path) -%}
    {%- if not (path.startswith('/') or ':' in path) -%}
        {%- set path = invocation_args_dict.get('project_dir', '.') ~ '/' ~ path -%}
    {%- endif -%}
    {{ return(path | replace('\\', '\\\\') | replace("'", "\\'")) }}
{%- endmacro %}
