{#- A source table, or an empty relation with its columns where the table does not exist yet: the
    association tables appear only once `semspace generate` has run, and a warehouse of captions
    alone must still build. The columns and types are the source's own in _sources.yml (which
    tests/test_contract.py checks against semspace.contract); `varchar` and `json` are written as
    the engine's string type (dbt.type_string(): Spark has no varchar without a length). -#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = none -%}
    {%- if execute -%}
        {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema,
                                             identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if found is not none or not execute -%}
        {{ relation }}
    {%- else -%}
        {#- this package's source (project_name would be the root project's when semspace is installed as a package) -#}
        {%- set node = graph.sources['source.semspace.' ~ source_name ~ '.' ~ table_name] -%}
        {%- set columns = node.columns.values() | list -%}
        {%- if not columns -%}
            {{ exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name ~ " declares no columns in _sources.yml") }}
        {%- endif -%}
        (select
        {%- for column in columns %}
            {%- set type = column.data_type | lower %}
            {%- set type = dbt.type_string() if type in ('varchar', 'json') else type %}
            cast(null as {{ type }}) as {{ column.name }}{{ "," if not loop.last }}
        {%- endfor %}
        where 1 = 0)
    {%- endif -%}
{%- endmacro %}
