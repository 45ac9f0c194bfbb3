{#-
  export_marts(models=none, formats=none): write marts as files, <export_dir>/<mart>.<format>.

  The one export mechanism: every model of this project whose config has meta.export_order (the
  marts; _marts__models.yml and _computed__models.yml) is exportable, in that order. Run it as
    dbt run-operation export_marts [--args '{models: [image_pairs], formats: [parquet]}']
  or at the end of a run or build with --vars '{export: true}' (on-run-end, macro export_after_run:
  the exportable marts that this run built), or `semspace export`.
  var export_dir (default $SEMSPACE_EXPORT_DIR or data/exports) names the folder; var
  export_formats (default [parquet, csv]) the formats. A mart not built yet is skipped with a
  message. Unknown model names or formats are an error naming them.

  DuckDB writes one file per mart and format with COPY; COPY does not create folders, so the
  folder is created by the function semspace_make_dirs of the project's dbt-duckdb plugin
  (profiles.yml) where the connection has it; a project that installs semspace as a package
  without that plugin must create the folder first (`mkdir -p`). Spark writes a folder of part
  files at the same path (INSERT OVERWRITE DIRECTORY), creating it.
-#}
{% macro export_marts(models=none, formats=none) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set formats = formats or var('export_formats') -%}
    {%- if formats is string -%}{%- set formats = [formats] -%}{%- endif -%}
    {%- for format in formats if format not in ['parquet', 'csv'] -%}
        {{ exceptions.raise_compiler_error("export_marts: format " ~ format ~ " is not parquet or csv") }}
    {%- endfor -%}
    {%- set exportable = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.package_name == 'semspace' -%}
        {%- set order = (node.config.get('meta') or {}).get('export_order') -%}
        {%- if order -%}{%- do exportable.update({node.name: node}) -%}{%- endif -%}
    {%- endfor -%}
    {%- set wanted = models or (exportable.keys() | sort) -%}
    {%- if wanted is string -%}{%- set wanted = [wanted] -%}{%- endif -%}
    {%- for name in wanted if name not in exportable -%}
        {{ exceptions.raise_compiler_error("export_marts: no exportable mart " ~ name ~ "; exportable: " ~ (exportable.keys() | sort | join(', '))) }}
    {%- endfor -%}
    {%- set folder = var('export_dir') | trim -%}
    {%- do semspace.make_export_dir(folder) -%}
    {%- for name in wanted -%}
        {%- set node = exportable[name] -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is none -%}
            {%- do log("export_marts: " ~ name ~ " is not built yet, skipped", info=true) -%}
        {%- else -%}
            {%- for format in formats -%}
                {%- set path = folder ~ '/' ~ name ~ '.' ~ format -%}
                {%- do run_query(semspace.export_statement(relation, node.config.meta.export_order, path, format)) -%}
                {%- do log("export_marts: " ~ path, info=true) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}


{% macro export_statement(relation, order, path, format) -%}
    {{ return(adapter.dispatch('export_statement', 'semspace')(relation, order, path, format)) }}
{%- endmacro %}

{% macro default__export_statement(relation, order, path, format) -%}
    copy (select * from {{ relation }} order by {{ order }})
    to {{ semspace.sql_string(path) }} ({{ 'format parquet' if format == 'parquet' else 'format csv, header true' }})
{%- endmacro %}

{% macro spark__export_statement(relation, order, path, format) -%}
    insert overwrite directory '{{ spark_path(path) }}'
    using {{ format }}
    {%- if format == 'csv' %} options (header 'true'){% endif %}
    select * from {{ relation }} order by {{ order }}
{%- endmacro %}


{#- The export folder: created through the project's dbt-duckdb plugin where the connection has
    it (DuckDB's COPY does not create folders); Spark's writers create theirs. -#}
{% macro make_export_dir(path) -%}
    {{ return(adapter.dispatch('make_export_dir', 'semspace')(path)) }}
{%- endmacro %}

{% macro duckdb__make_export_dir(path) -%}
    {%- set found = run_query("select count(*) from duckdb_functions() where function_name = 'semspace_make_dirs'") -%}
    {%- if found.columns[0].values()[0] > 0 -%}
        {%- do run_query("select semspace_make_dirs(" ~ semspace.sql_string(path) ~ ")") -%}
    {%- endif -%}
{%- endmacro %}

{% macro default__make_export_dir(path) -%}
{%- endmacro %}


{#- on-run-end with var export: the exportable marts among the models this run built. -#}
{% macro export_after_run(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set built = [] -%}
    {%- for result in results if result.node.resource_type == 'model' and result.status == 'success'
            and (result.node.config.get('meta') or {}).get('export_order') -%}
        {%- do built.append(result.node.name) -%}
    {%- endfor -%}
    {%- if built -%}{%- do export_marts(models=built) -%}{%- endif -%}
    {{ return('') }}
{%- endmacro %}
